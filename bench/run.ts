/**
 * `npm run bench`: smapd against the bare baseline server, then each built-in module, the `workers` and
 * `cache` settings, and connection churn, all over loopback with the load generator in its own process.
 * Prints the figures and a PASS/MISS line per performance target. The figures are measurements, not tests:
 * the exit code is 0 whatever they are, and non-zero only when the bench itself could not run.
 *
 * Runs that are compared with each other are taken back to back (baseline, then smapd), and the main
 * comparison is repeated and its median kept, so that whatever else the machine does hits both sides alike.
 *
 *   BENCH_SECONDS=N  measured seconds per run (default 5)
 *   BENCH_ROUNDS=N   repeats of the main comparison and of the sqlite row, median kept (default 5)
 *   BENCH_QUICK=1    a smoke run of about 30 s (0.8 s per run, 1 round, one shared baseline run for the modules)
 *   BENCH_KEYS=N     entries in the map (default 100000)
 *   BENCH_C_DIR=DIR  also run the C reference section (bench/c-reference.ts) with the sockbench and refsmapd
 *                    built in DIR; off by default: the Node baseline is the reference the targets use. The
 *                    sockmap backend row takes sockbench from DIR too, or else builds it from the shared kit
 *                    (../shared/tools/sockbench) into the work directory when it can (bench/backends.ts)
 *   BENCH_BACKENDS=LIST  with the backends section: only these rows (redis, sockmap, ldap; default all)
 *   BENCH_ONLY=LIST  only these sections, comma-separated: main, modules, backends, churn, c (the C reference
 *                    section, which also needs BENCH_C_DIR) (default all; the
 *                    targets summary needs all, so a partial run prints only the cache and backend targets it measured)
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import * as F from './fixtures.js';
import { backendRuns, backendTargets } from './backends.js';
import { cReferenceRuns, cTargets } from './c-reference.js';
import { cToolsFromEnv, findCTools, type CTools } from './c-tools.js';
import { runJob, startBaseline, startSmapd, type RunningServer } from './processes.js';
import * as Rp from './report.js';
import { runCachePairs, type PairResult } from './cache-pairs.js';
import { loadName, median, Suite, type Load } from './suite.js';

const dist = path.resolve(import.meta.dirname, '..');
const QUICK = process.env.BENCH_QUICK === '1';
const SECONDS = positive(process.env.BENCH_SECONDS) ?? (QUICK ? 0.8 : 5);
const ROUNDS = Math.round(positive(process.env.BENCH_ROUNDS) ?? (QUICK ? 1 : 5));
const WARMUP = QUICK ? 0.2 : 1;
const KEYS = Math.round(positive(process.env.BENCH_KEYS) ?? 100_000);
const SECTIONS = ['main', 'modules', 'backends', 'churn', 'c'] as const;
const ONLY = onlySections(process.env.BENCH_ONLY);
const CHURN_RATE = 1000;
const CHURN_TOTAL = Math.max(1000, Math.round(CHURN_RATE * SECONDS));
/** The working set of the cache run that stands for a few busy recipients. */
const HOT_KEYS = 1000;

/** Entries of the cache in the full-cache rows: a fifth of the map, so random keys keep it evicting. */
const CACHE_FULL_SIZE = Math.max(100, Math.round(KEYS / 5));
/** The cache rows over the default sqlite (issue #11's case) and over `immutable`. */
const CACHE_FULL_ROW = `sqlite + cache size=${CACHE_FULL_SIZE.toLocaleString('en-US')}, all keys (full, evicting)`;
const CACHE_HOT_ROW = `sqlite + cache, ${HOT_KEYS} hot keys`;
/** Zipf's exponent of the skewed row: a few keys asked very often, most rarely, as in real mail. */
const ZIPF = 1;
const CACHE_ZIPF_ROW = `sqlite + cache, Zipf(${ZIPF}) keys`;
const IMM_FULL_ROW = `sqlite, immutable + cache size=${CACHE_FULL_SIZE.toLocaleString('en-US')}, all keys (full, evicting)`;
const IMM_HOT_ROW = `sqlite, immutable + cache, ${HOT_KEYS} hot keys`;
/** Rounds of the cache pairs (cache-pairs.ts) and of the hot-set row over immutable sqlite (fewer than ROUNDS: six rows). */
const CACHE_ROUNDS = Math.max(1, Math.round((ROUNDS * 3) / 5));
/** The hot-set row over immutable sqlite is judged against echo, the core's own ceiling. */
const IMM_HOT_OF_ECHO = 0.9;

const SCENARIOS: readonly Load[] = [
  { conns: 1, depth: 1 },
  { conns: 16, depth: 1 },
  { conns: 64, depth: 1 },
  { conns: 16, depth: 16 },
];
const AT_16: Load = SCENARIOS[1]!;

function positive(v: string | undefined): number | undefined {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isFinite(n) && n > 0 ? n : undefined;
}

function onlySections(v: string | undefined): ReadonlySet<string> {
  if (v === undefined || v.trim() === '') return new Set(SECTIONS);
  const picked = v.split(',').map((s) => s.trim());
  const bad = picked.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (bad.length > 0) throw new Error(`BENCH_ONLY: unknown section ${bad.join(', ')} (sections: ${SECTIONS.join(', ')})`);
  return new Set(picked);
}

const say = (line = '') => process.stdout.write(line + '\n');

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // Not Linux; os.cpus() is the next best thing.
  }
  return cpus()[0]?.model ?? 'unknown';
}

function header(): void {
  const cores = availableParallelism();
  say('smapd benchmark');
  say(`machine: ${cores} cores, ${cpuModel()}, node ${process.version}, ${process.platform}/${process.arch}`);
  say(`runs: ${SECONDS} s measured after ${WARMUP} s warm-up; main comparison ${ROUNDS} round(s), median kept;`);
  say(`      ${KEYS.toLocaleString('en-US')} keys drawn at random; loopback TCP; cpu = server CPU time (user+sys) per request`);
  say('processes: each server and the load generator (one process, closed loop) run as separate processes');
  if (cores <= 2) {
    say(`note: only ${cores} cores: the load generator and the server share them, so the server never has a core`);
    say("      to itself, the client's own CPU use is part of every figure, and workers 2 cannot gain much here");
  }
  say();
}

interface Context {
  readonly suite: Suite;
  readonly workDir: string;
  readonly entries: readonly F.Entry[];
  readonly keysFile: string;
  /** A starter for smapd serving one database. */
  smapd(name: string, module: string, database: string, workers?: number): () => Promise<RunningServer>;
}

/** Baseline and smapd+file, scenario by scenario, back to back, ROUNDS times. */
interface MainFigures {
  readonly base: Rp.Outcome[];
  readonly file: Rp.Outcome[];
  /** Median over rounds of smapd/baseline by rate, per scenario. */
  readonly rateRatio: Array<number | undefined>;
}

async function mainComparison(cx: Context, baseline: RunningServer): Promise<MainFigures> {
  say('== smapd (file module) against the bare baseline server ==');
  const smapd = await cx.suite.start('smapd+file', cx.smapd('file', 'file', `file=${cx.keysFile}`));
  const baseRuns: Rp.Outcome[][] = SCENARIOS.map(() => []);
  const fileRuns: Rp.Outcome[][] = SCENARIOS.map(() => []);
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [i, s] of SCENARIOS.entries()) {
      const tag = ROUNDS > 1 ? ` #${r}` : '';
      baseRuns[i]!.push(await cx.suite.load(baseline, `baseline, ${loadName(s)}${tag}`, s));
      fileRuns[i]!.push(typeof smapd === 'string' ? { label: 'smapd+file', skipped: smapd } : await cx.suite.load(smapd, `smapd+file, ${loadName(s)}${tag}`, s));
    }
  }
  if (typeof smapd !== 'string') await cx.suite.stop('smapd+file', smapd);
  const base = baseRuns.map((runs) => median(runs));
  const file = fileRuns.map((runs) => median(runs));
  // Each round's smapd run is compared with the baseline run just before it, and the median of those
  // paired ratios is kept: a slow patch of the machine then spoils one ratio, not the comparison.
  const rateRatio = SCENARIOS.map((_, i) => Rp.medianOf(pairs(fileRuns[i]!, baseRuns[i]!, (f) => f.rps)));
  const cpuRatio = SCENARIOS.map((_, i) => Rp.medianOf(pairs(fileRuns[i]!, baseRuns[i]!, (f) => f.cpuUs)));
  say();
  say(
    Rp.table(
      ['scenario', 'baseline req/s', 'p50 ms', 'p99 ms', 'max ms', 'err', 'cpu µs', 'smapd req/s', 'p50 ms', 'p99 ms', 'max ms', 'err', 'cpu µs', 'spread', 'rate ratio', 'cpu ratio'],
      SCENARIOS.map((s, i) => [
        loadName(s),
        ...Rp.cells(base[i]!.pick),
        Rp.cpuCell(base[i]!.pick),
        ...Rp.cells(file[i]!.pick),
        Rp.cpuCell(file[i]!.pick),
        Rp.spreadCell(file[i]!.spread),
        rateRatio[i] === undefined ? '-' : `${rateRatio[i]!.toFixed(2)}x`,
        cpuRatio[i] === undefined ? '-' : `${cpuRatio[i]!.toFixed(2)}x`,
      ]),
    ),
  );
  say('rate ratio and cpu ratio: smapd over the baseline run just before it, median over the rounds (1.00x = as fast, as cheap)');
  say();
  return { base: base.map((m) => m.pick!), file: file.map((m) => m.pick!), rateRatio };
}

/** `pick(a) / pick(b)` for each round where both sides were measured. */
function pairs(a: readonly Rp.Outcome[], b: readonly Rp.Outcome[], pick: (f: Rp.Figures) => number | undefined): number[] {
  const out: number[] = [];
  for (let r = 0; r < a.length; r++) {
    const x = a[r];
    const y = b[r];
    if (!Rp.isFigures(x) || !Rp.isFigures(y)) continue;
    const px = pick(x);
    const py = pick(y);
    if (px !== undefined && py !== undefined && py > 0) out.push(px / py);
  }
  return out;
}

interface ModuleRow {
  readonly label: string;
  readonly outcome: Rp.Outcome;
  /** The baseline run taken just before this one. */
  readonly paired: Rp.Outcome | undefined;
  /** Paired rounds measured; the row is the one with the median ratio. */
  readonly rounds?: number;
}

/** The postgres module's pool size, and so the concurrency the bare client gets too. */
const PG_POOL = 8;
const BARE_PG = `bare pg client, ${AT_16.conns} callers, pool ${PG_POOL}`;

/** The same lookups as the postgres row, straight from `pg` in the load generator's process: no smapd. */
async function directPg(keysFile: string): Promise<Rp.Outcome> {
  const p = F.POSTGRES;
  const r = await runJob(dist, {
    kind: 'pg-direct',
    opts: { host: p.host, port: p.port, user: p.user, database: p.database, sql: F.POSTGRES_SQL, callers: AT_16.conns, poolSize: PG_POOL, seconds: SECONDS, warmupSeconds: WARMUP, keysFile },
  });
  if (r.kind !== 'load') return { label: BARE_PG, skipped: r.kind === 'failed' ? r.error : 'no figures' };
  const f = Rp.figuresOf(BARE_PG, r.result.rps, r.result.latency, r.result.errors, r.result.sample, undefined);
  say(Rp.runLine(f));
  return f;
}

/**
 * The bare mysql2 client's pool: the mysql module's default pool-size while it ran on mysql2, kept so that this
 * row stays the baseline earlier figures were measured against (the module now pipelines over fewer).
 */
const MYSQL_POOL = 8;
const BARE_MYSQL = `bare mysql2 client, ${AT_16.conns} callers, pool ${MYSQL_POOL}`;

/** The same lookups as the mysql row, straight from `mysql2` in the load generator's process: no smapd. */
async function directMysql(keysFile: string): Promise<Rp.Outcome> {
  const m = F.MYSQL;
  const r = await runJob(dist, {
    kind: 'mysql-direct',
    opts: { host: m.host, port: m.port, user: m.user, database: m.database, sql: `SELECT v FROM ${m.table} WHERE k = ?`, callers: AT_16.conns, poolSize: MYSQL_POOL, seconds: SECONDS, warmupSeconds: WARMUP, keysFile },
  });
  if (r.kind !== 'load') return { label: BARE_MYSQL, skipped: r.kind === 'failed' ? r.error : 'no figures' };
  const f = Rp.figuresOf(BARE_MYSQL, r.result.rps, r.result.latency, r.result.errors, r.result.sample, undefined);
  say(Rp.runLine(f));
  return f;
}

/** Each module at 16 x 1, each right after a baseline run of its own. */
async function moduleRuns(cx: Context, baseline: RunningServer): Promise<{ rows: ModuleRow[]; pairs: PairResult[] }> {
  say(`== modules, 16 connections x depth 1, ${QUICK ? 'against one baseline run' : 'each after a baseline run'} ==`);
  const rows: ModuleRow[] = [];
  // A quick run measures the baseline once for all rows; a full run pairs each row with its own.
  const shared = QUICK ? await cx.suite.load(baseline, '  baseline', AT_16) : undefined;
  const run = async (
    label: string,
    module: string,
    database: () => string | Promise<string>,
    opts: { workers?: number; expected?: (e: F.Entry) => string; keysFile?: string; zipf?: number; rounds?: number } = {},
  ) => {
    if (!F.hasModule(dist, module)) {
      const why = `module '${module}' is not in this build (modules/${module} missing)`;
      say(`  ${label}: skipped: ${why}`);
      rows.push({ label, outcome: { label, skipped: why }, paired: undefined });
      return;
    }
    const server = await cx.suite.start(label, cx.smapd(label.replace(/[^a-z0-9]+/gi, '-'), module, await database(), opts.workers), opts.expected);
    if (typeof server === 'string') {
      rows.push({ label, outcome: { label, skipped: server }, paired: undefined });
      return;
    }
    // A row that a target is judged on is measured in several paired rounds, and the round with the median
    // ratio is kept, as in the main comparison: one slow patch of the machine then spoils one round only.
    const rounds = opts.rounds ?? 1;
    const pairsRun: Array<{ outcome: Rp.Outcome; paired: Rp.Outcome | undefined }> = [];
    for (let r = 1; r <= rounds; r++) {
      const tag = rounds > 1 ? ` #${r}` : '';
      const paired = shared ?? (await cx.suite.load(baseline, `  baseline before ${label}${tag}`, AT_16, opts.keysFile, opts.zipf));
      pairsRun.push({ outcome: await cx.suite.load(server, `${label}${tag}`, AT_16, opts.keysFile, opts.zipf), paired });
    }
    await cx.suite.stop(label, server);
    const ratioOf = (x: (typeof pairsRun)[number]) =>
      Rp.isFigures(x.outcome) && Rp.isFigures(x.paired) && x.paired.rps > 0 ? x.outcome.rps / x.paired.rps : -1;
    const sorted = [...pairsRun].sort((a, b) => ratioOf(a) - ratioOf(b));
    const pick = sorted[Math.floor((sorted.length - 1) / 2)]!;
    rows.push({ label, outcome: { ...pick.outcome, label }, paired: pick.paired, rounds });
  };
  await run('echo (constant reply)', 'echo', () => 'OK found', { expected: () => 'OK found' });
  await run('file', 'file', () => `file=${cx.keysFile}`);
  const levelDir = F.hasModule(dist, 'level') ? await F.buildLevel(cx.workDir, cx.entries) : '';
  await run('level', 'level', () => `path=${levelDir}`);
  // Reads on the event loop, for a map that stays in the page cache: no thread-pool trip, no promise.
  await run('level, read=sync', 'level', () => `path=${levelDir} read=sync`);
  const sqliteFile = F.buildSqlite(cx.workDir, cx.entries);
  await run('sqlite', 'sqlite', () => `file=${sqliteFile}`);
  // The cache against the same database without it. A cache a fifth the size of the map, over keys drawn from
  // all of it, fills within a second and then evicts on most lookups: it must cost (almost) nothing. Over a
  // hot set it must pay. The rows over the default sqlite are issue #11's case; the Zipf row shows a skewed
  // stream between the two.
  const cachedOver = (opts: string) => () => `file=${sqliteFile}${opts} begin\n  cache ttl=60s negative-ttl=60s size=${CACHE_FULL_SIZE}\nend`;
  const sqliteHot = F.writeTextMap(cx.workDir, cx.entries.slice(0, HOT_KEYS), 'sqlite-hot.txt');
  // These rows show the figures; the targets are judged on paired rounds (cache-pairs.ts, below).
  await run(CACHE_FULL_ROW, 'sqlite', cachedOver(''));
  await run(CACHE_HOT_ROW, 'sqlite', cachedOver(''), { keysFile: sqliteHot });
  await run(CACHE_ZIPF_ROW, 'sqlite', cachedOver(''), { zipf: ZIPF });
  // A map that is only ever replaced whole (smapd-makemap) can keep its read lock: the recommended setting.
  await run('sqlite, immutable', 'sqlite', () => `file=${sqliteFile} immutable`, { rounds: ROUNDS });
  await run(IMM_FULL_ROW, 'sqlite', cachedOver(' immutable'));
  await run(IMM_HOT_ROW, 'sqlite', cachedOver(' immutable'), { rounds: CACHE_ROUNDS, keysFile: sqliteHot });
  const mysqlDown = F.hasModule(dist, 'mysql') ? await F.fillMysql(cx.entries) : undefined;
  if (mysqlDown !== undefined) {
    say(`  mysql: skipped: ${mysqlDown}`);
    for (const label of ['mysql', BARE_MYSQL, 'mysql + cache, all keys', `mysql + cache, ${HOT_KEYS} hot keys`]) rows.push({ label, outcome: { label, skipped: mysqlDown }, paired: undefined });
  } else {
    await run('mysql', 'mysql', F.mysqlDatabaseArgs);
    rows.push({ label: BARE_MYSQL, outcome: await directMysql(cx.keysFile), paired: undefined });
    // Over all the keys a short run mostly misses the cache; over a hot set it mostly hits. Both are shown.
    const cached = () => `${F.mysqlDatabaseArgs()} begin\n  cache ttl=60s size=200000\nend`;
    const hot = F.writeTextMap(cx.workDir, cx.entries.slice(0, HOT_KEYS), 'hot.txt');
    await run('mysql + cache, all keys', 'mysql', cached);
    await run(`mysql + cache, ${HOT_KEYS} hot keys`, 'mysql', cached, { keysFile: hot });
  }
  const pgDown = F.hasModule(dist, 'postgres') ? await F.fillPostgres(cx.entries) : `module 'postgres' is not in this build`;
  if (pgDown !== undefined) {
    say(`  postgres: skipped: ${pgDown}`);
    for (const label of ['postgres', BARE_PG]) rows.push({ label, outcome: { label, skipped: pgDown }, paired: undefined });
  } else {
    await run('postgres', 'postgres', F.postgresDatabaseArgs);
    rows.push({ label: BARE_PG, outcome: await directPg(cx.keysFile), paired: undefined });
  }
  await run('file, workers 2', 'file', () => `file=${cx.keysFile}`, { workers: 2 });
  say();
  const sqliteDb = (opts: string) => cx.smapd(`sqlite${opts.replace(/[^a-z]+/g, '-')}`, 'sqlite', `file=${sqliteFile}${opts}`);
  const cachedDb = (opts: string) => cx.smapd(`sqlite-cache${opts.replace(/[^a-z]+/g, '-')}`, 'sqlite', cachedOver(opts)());
  const pairs = F.hasModule(dist, 'sqlite')
    ? await runCachePairs(
        cx.suite,
        [
          { what: 'sqlite + full, evicting cache >= 0.95x sqlite without cache', min: 0.95, none: sqliteDb(''), cached: cachedDb('') },
          { what: `sqlite + cache over ${HOT_KEYS} hot keys >= 1.6x sqlite without cache`, min: 1.6, none: sqliteDb(''), cached: cachedDb(''), keysFile: sqliteHot },
          { what: 'sqlite (immutable) + full, evicting cache >= 0.95x without cache', min: 0.95, none: sqliteDb(' immutable'), cached: cachedDb(' immutable') },
        ],
        AT_16,
        CACHE_ROUNDS,
        say,
      )
    : [];
  say(
    Rp.table(
      ['database (16 x 1)', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'err', 'cpu µs', 'baseline req/s', 'rate ratio', 'cpu ratio'],
      rows.map((r) => [
        (r.rounds ?? 1) > 1 ? `${r.label} (median of ${r.rounds})` : r.label,
        ...Rp.cells(r.outcome),
        Rp.cpuCell(r.outcome),
        Rp.isFigures(r.paired) ? Rp.formatRate(r.paired.rps) : '-',
        Rp.ratio(r.outcome, r.paired),
        Rp.cpuRatio(r.outcome, r.paired),
      ]),
    ),
  );
  say(`ratios against ${QUICK ? 'that baseline run' : 'the baseline run taken just before each row'}; with workers 2, cpu is the sum over all processes`);
  say();
  return { rows, pairs };
}

/** Open loop: CHURN_RATE new connections a second, one query each, against the baseline and smapd+file. */
async function churnRuns(cx: Context, baseline: RunningServer): Promise<{ base: Rp.Outcome; smapd: Rp.Outcome }> {
  say(`== connection churn: ${CHURN_RATE.toLocaleString('en-US')} new connections/s, ${CHURN_TOTAL.toLocaleString('en-US')} in all, connect + 1 query + close ==`);
  const base = await cx.suite.churn(baseline, 'baseline churn', CHURN_RATE, CHURN_TOTAL);
  const server = await cx.suite.start('smapd+file churn', cx.smapd('churn', 'file', `file=${cx.keysFile}`));
  let smapd: Rp.Outcome;
  if (typeof server === 'string') smapd = { label: 'smapd+file churn', skipped: server };
  else {
    smapd = await cx.suite.churn(server, 'smapd+file churn', CHURN_RATE, CHURN_TOTAL);
    await cx.suite.stop('smapd+file churn', server);
  }
  say('(latency of a churn connection runs from connect() to its reply; cpu is per connection)');
  say();
  return { base, smapd };
}

/**
 * The C tools for the sockmap backend row (c-tools.ts, cToolsFromEnv); undefined, and a line saying why,
 * when there are none: the row is then driven by the Node load generator alone.
 */
function cToolsForBackends(workDir: string): CTools | undefined {
  const tools = cToolsFromEnv(workDir);
  if (typeof tools !== 'string') return tools;
  say(`note: the sockmap row uses the Node load generator only: ${tools}`);
  return undefined;
}

/** The C reference section, when BENCH_C_DIR says where the C tools were built; its targets, if it ran. */
async function cReferenceSection(cx: Context): Promise<Rp.Target[]> {
  const dir = process.env.BENCH_C_DIR;
  if (dir === undefined || dir === '') return [];
  const tools = findCTools(dir);
  if (typeof tools === 'string') {
    say(`== C reference: skipped: ${tools} ==`);
    cx.suite.failures.push(`C reference: ${tools}`);
    say();
    return [];
  }
  const res = await cReferenceRuns({
    tools,
    workDir: cx.workDir,
    entries: cx.entries,
    mapFile: cx.keysFile,
    seconds: SECONDS,
    warmup: WARMUP,
    rounds: ROUNDS,
    say,
    startSmapd: cx.smapd('c-ref', 'file', `file=${cx.keysFile}`),
    startBaseline: () => startBaseline(dist, cx.keysFile),
  });
  if (res.rows.length === 0) cx.suite.failures.push('C reference: a server did not start');
  return cTargets(res);
}

const ratioTarget = (r: number | undefined, min: number) => ({ measured: r === undefined ? undefined : `${r.toFixed(2)}x`, pass: r !== undefined && r >= min });

/**
 * The cache targets: the cache against the same database without it, paired in each round (cache-pairs.ts);
 * the immutable hot set against the echo row, each over its own baseline run.
 */
function cacheTargets(mods: readonly ModuleRow[], pairs: readonly PairResult[]): Rp.Target[] {
  const baselineRatio = (r: ModuleRow | undefined) =>
    r !== undefined && Rp.isFigures(r.outcome) && Rp.isFigures(r.paired) && r.paired.rps > 0 ? r.outcome.rps / r.paired.rps : undefined;
  const cacheVs = (label: string, against: string, min: number, what: string): Rp.Target => {
    const cached = baselineRatio(mods.find((r) => r.label === label));
    const uncached = baselineRatio(mods.find((r) => r.label === against));
    const rel = cached !== undefined && uncached !== undefined && uncached > 0 ? cached / uncached : undefined;
    return { what, ...ratioTarget(rel, min) };
  };
  return [
    ...pairs.map((p) => ({ what: p.what, ...ratioTarget(p.rate, p.min) })),
    // A hit runs through the whole core; the echo module (a constant reply, no lookup) is the most any
    // cached row can reach, and 1.6x of immutable sqlite would be faster than echo (docs/performance.md).
    cacheVs(IMM_HOT_ROW, 'echo (constant reply)', IMM_HOT_OF_ECHO, `sqlite (immutable) + cache over ${HOT_KEYS} hot keys >= ${IMM_HOT_OF_ECHO}x echo (the ceiling)`),
  ];
}

function summary(main: MainFigures, modRuns: { rows: ModuleRow[]; pairs: PairResult[] }, churn: { smapd: Rp.Outcome }, more: readonly Rp.Target[]): void {
  const vs = (o: Rp.Outcome | undefined, b: Rp.Outcome | undefined, min: number) => ({
    measured: Rp.isFigures(o) && Rp.isFigures(b) ? `${(o.rps / b.rps).toFixed(2)}x` : undefined,
    pass: Rp.isFigures(o) && Rp.isFigures(b) && o.rps >= min * b.rps,
  });
  const mods = modRuns.rows;
  const sqlite = mods.find((r) => r.label === 'sqlite, immutable');
  const postgres = mods.find((r) => r.label === 'postgres');
  const barePg = mods.find((r) => r.label === BARE_PG);
  const mysqlRow = mods.find((r) => r.label === 'mysql');
  const bareMysql = mods.find((r) => r.label === BARE_MYSQL);
  const at64 = main.file[2];
  const ch = churn.smapd;
  say('== targets ==');
  say(
    Rp.targetLines([
      { what: 'smapd+file >= 0.85x baseline, 16 conn x 1', ...ratioTarget(main.rateRatio[1], 0.85) },
      { what: 'smapd+file >= 0.85x baseline, 64 conn x 1', ...ratioTarget(main.rateRatio[2], 0.85) },
      { what: 'smapd+sqlite (immutable) >= 0.7x baseline, 16 conn x 1', ...vs(sqlite?.outcome, sqlite?.paired, 0.7) },
      { what: `smapd+postgres >= 0.7x ${BARE_PG}`, ...vs(postgres?.outcome, barePg?.outcome, 0.7) },
      { what: `smapd+mysql >= 0.7x ${BARE_MYSQL}`, ...vs(mysqlRow?.outcome, bareMysql?.outcome, 0.7) },
      ...cacheTargets(mods, modRuns.pairs),
      {
        what: 'smapd+file p99 < 2 ms at 64 conn x 1',
        measured: Rp.isFigures(at64) ? `${Rp.formatMs(at64.p99)} ms` : undefined,
        pass: Rp.isFigures(at64) && at64.p99 < 2,
      },
      {
        what: `smapd+file churn at ${CHURN_RATE} connections/s`,
        measured: Rp.isFigures(ch) ? `${Rp.formatRate(ch.rps)}/s, ${ch.errors} err` : undefined,
        pass: Rp.isFigures(ch) && ch.rps >= CHURN_RATE * 0.95 && ch.errors === 0,
      },
      ...more,
    ]),
  );
  say();
}

async function main(): Promise<number> {
  const began = Date.now();
  header();
  const workDir = F.makeWorkDir();
  const entries = F.makeEntries(KEYS);
  const keysFile = F.writeTextMap(workDir, entries);
  const suite = new Suite({ dist, seconds: SECONDS, warmup: WARMUP, keysFile, entries, maxRequests: 200_000_000, say });
  const cx: Context = {
    suite,
    workDir,
    entries,
    keysFile,
    smapd: (name, module, database, workers = 1) => () =>
      startSmapd(dist, name, F.writeConfig(workDir, name, module, database, { workers })),
  };
  try {
    const baseline = await suite.start('baseline', () => startBaseline(dist, keysFile));
    if (typeof baseline === 'string') throw new Error(`the baseline server did not run (${baseline}); nothing to compare with`);
    try {
      const mainFigures = ONLY.has('main') ? await mainComparison(cx, baseline) : undefined;
      const mods = ONLY.has('modules') ? await moduleRuns(cx, baseline) : undefined;
      const backends = ONLY.has('backends')
        ? await backendRuns(
            { suite, dist, entries, keysFile, workDir, load: AT_16, seconds: SECONDS, warmup: WARMUP, rounds: ROUNDS, say, smapd: (n, m, d) => cx.smapd(n, m, d), cTools: () => cToolsForBackends(workDir) },
            baseline,
          )
        : [];
      const churn = ONLY.has('churn') ? await churnRuns(cx, baseline) : undefined;
      const cRef = ONLY.has('c') ? await cReferenceSection(cx) : [];
      if (mainFigures !== undefined && mods !== undefined && churn !== undefined) summary(mainFigures, mods, churn, [...backendTargets(backends), ...cRef]);
      else if (mods !== undefined || backends.length > 0 || cRef.length > 0) {
        // A partial run judges what it measured: the cache rows need only the modules section.
        say(Rp.targetLines([...(mods !== undefined ? cacheTargets(mods.rows, mods.pairs) : []), ...backendTargets(backends), ...cRef]));
      }
    } finally {
      await suite.stop('baseline', baseline);
    }
  } finally {
    await F.dropMysql();
    await F.dropPostgres();
    F.removeWorkDir(workDir);
  }
  say(`total time ${Math.round((Date.now() - began) / 1000)} s`);
  if (suite.failures.length > 0) {
    say(`FAILURES (the bench could not measure these):\n  ${suite.failures.join('\n  ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
