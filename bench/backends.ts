/**
 * The rows for modules whose speed is set by a backend server rather than by smapd: each is measured next to
 * a bare client that makes the same lookups, with the same number in flight (16), straight to that backend.
 * The target is that putting smapd in between keeps at least 0.7x of the bare client's rate.
 *
 *   redis   — smapd+redis against one ioredis client doing the same GETs on the machine's Redis (6379);
 *   sockmap — smapd+sockmap forwarding to the baseline server, against the load generator asking that
 *             server directly. With the C tools (BENCH_C_DIR, or built from the shared kit), both sides
 *             are also driven by the C load generator and that pair is the one judged: on two cores the
 *             Node load generator needs about a core of its own, which the forwarding run (three busy
 *             processes) takes from smapd while the direct run (two) does not miss it;
 *   ldap    — smapd+ldap against one ldapts client making the same searches, both on a private slapd
 *             (bench/slapd.ts) loaded with LDAP_KEYS of the entries around the one the start check asks.
 */
import { Redis } from 'ioredis';
import { sockbenchWithCpu, type CTools } from './c-tools.js';
import type { Entry } from './fixtures.js';
import { hasModule, MAP_NAME, writeKeysFile, writeTextMap } from './fixtures.js';
import { READER_DN, READER_PW, Slapd, slapdUnavailable, SUFFIX } from './slapd.js';
import { runJob, type RunningServer } from './processes.js';
import * as Rp from './report.js';
import type { Load, Suite } from './suite.js';

export const REDIS_BENCH = { host: '127.0.0.1', port: 6379 } as const;
/** The keys live under this prefix, so the bench never touches anyone else's. */
const REDIS_PREFIX = `smapd-bench:${process.pid}:`;

export interface BackendRow {
  readonly label: string;
  readonly bareLabel: string;
  /** Lookups in flight on both sides. */
  readonly inFlight: number;
  /** The paired runs, bare client first; the row shows the round with the median ratio. */
  readonly bare: Rp.Outcome;
  readonly smapd: Rp.Outcome;
  /** False for a row printed for comparison only, not held to the target. */
  readonly judged: boolean;
}

export interface BackendContext {
  readonly suite: Suite;
  readonly dist: string;
  readonly entries: readonly Entry[];
  readonly keysFile: string;
  readonly load: Load;
  readonly seconds: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly say: (line?: string) => void;
  /** The work directory, for the ldap row's and the C load generator's keys files. */
  readonly workDir: string;
  /** The C tools, when there are any (asked only when the sockmap row runs): that row is then judged on the C load generator's pair. */
  readonly cTools: () => CTools | undefined;
  smapd(name: string, module: string, database: string): () => Promise<RunningServer>;
}

async function fillRedis(entries: readonly Entry[]): Promise<string | undefined> {
  const r = new Redis({ ...REDIS_BENCH, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const step = 5000;
    for (let i = 0; i < entries.length; i += step) {
      await r.mset(entries.slice(i, i + step).flatMap((e) => [REDIS_PREFIX + e.key, e.value]));
    }
    return undefined;
  } catch (err) {
    return `Redis unusable at ${REDIS_BENCH.host}:${REDIS_BENCH.port} (${(err as Error).message})`;
  } finally {
    r.disconnect();
  }
}

async function dropRedis(entries: readonly Entry[]): Promise<void> {
  const r = new Redis({ ...REDIS_BENCH, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    const step = 5000;
    for (let i = 0; i < entries.length; i += step) await r.unlink(...entries.slice(i, i + step).map((e) => REDIS_PREFIX + e.key));
  } catch {
    // Nothing was written, or the server went away; either way there is nothing to clean.
  } finally {
    r.disconnect();
  }
}

/** A row that was not measured, and why. */
function skipRow(cx: BackendContext, label: string, bareLabel: string, why: string, judged = true): BackendRow {
  return { label, bareLabel, inFlight: cx.load.conns * cx.load.depth, bare: { label: bareLabel, skipped: why }, smapd: { label, skipped: why }, judged };
}

interface PairOptions {
  /** The keys smapd's row asks (default: all); with the default `smapd` run only. */
  readonly keysFile?: string;
  /** One run against smapd (default: the Node load generator, `cx.load`). */
  readonly smapd?: (server: RunningServer, tag: string) => Promise<Rp.Outcome>;
  /** False: printed for comparison, not held to the target (default true). */
  readonly judged?: boolean;
}

/** `rounds` pairs of (bare, smapd) runs; the pair with the median ratio is kept. */
async function paired(
  cx: BackendContext,
  label: string,
  bareLabel: string,
  server: RunningServer | string,
  bare: (tag: string) => Promise<Rp.Outcome>,
  opts: PairOptions = {},
): Promise<BackendRow> {
  const judged = opts.judged ?? true;
  const smapd = opts.smapd ?? ((s, tag) => cx.suite.load(s, `${label}${tag}`, cx.load, opts.keysFile));
  const inFlight = cx.load.conns * cx.load.depth;
  if (typeof server === 'string') return skipRow(cx, label, bareLabel, server, judged);
  const runs: Array<{ bare: Rp.Outcome; smapd: Rp.Outcome }> = [];
  for (let r = 1; r <= cx.rounds; r++) {
    const tag = cx.rounds > 1 ? ` #${r}` : '';
    const b = await bare(tag);
    runs.push({ bare: b, smapd: await smapd(server, tag) });
  }
  await cx.suite.stop(label, server);
  const ratioOf = (x: (typeof runs)[number]) => (Rp.isFigures(x.smapd) && Rp.isFigures(x.bare) && x.bare.rps > 0 ? x.smapd.rps / x.bare.rps : -1);
  const pick = [...runs].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor((runs.length - 1) / 2)]!;
  return { label, bareLabel, inFlight, ...pick, judged };
}

async function redisRow(cx: BackendContext): Promise<BackendRow> {
  const label = 'smapd+redis';
  const bareLabel = 'bare ioredis client';
  const skip = (why: string): BackendRow => skipRow(cx, label, bareLabel, why);
  if (!hasModule(cx.dist, 'redis')) return skip('module redis is not in this build');
  const down = await fillRedis(cx.entries);
  if (down !== undefined) return skip(down);
  try {
    const server = await cx.suite.start(label, cx.smapd('redis', 'redis', `url=redis://${REDIS_BENCH.host}:${REDIS_BENCH.port}/0 key=${REDIS_PREFIX}\${key}`));
    return await paired(cx, label, bareLabel, server, async (tag) => {
      const r = await runJob(cx.dist, {
        kind: 'redis',
        opts: { ...REDIS_BENCH, concurrency: cx.load.conns * cx.load.depth, seconds: cx.seconds, warmupSeconds: cx.warmup, keysFile: cx.keysFile, keyPrefix: REDIS_PREFIX },
      });
      if (r.kind !== 'load') return { label: bareLabel, skipped: r.kind === 'failed' ? r.error.split('\n')[0]! : 'no figures' };
      const f = Rp.figuresOf(`${bareLabel}${tag}`, r.result.rps, r.result.latency, r.result.errors, r.result.sample, undefined);
      cx.say(Rp.runLine(f));
      return f;
    });
  } finally {
    await dropRedis(cx.entries);
  }
}

/** One sockbench run against `server`: its rate and latency, and the server's CPU per request. */
async function cLoad(cx: BackendContext, tools: CTools, server: RunningServer, label: string, keysFile: string): Promise<Rp.Outcome> {
  try {
    const { result: r, cpuUs } = await sockbenchWithCpu(tools, server.pid, {
      port: server.port,
      map: MAP_NAME,
      keysFile,
      conns: cx.load.conns,
      depth: cx.load.depth,
      seconds: cx.seconds,
      warmup: cx.warmup,
      expectPrefix: 'OK ',
    });
    const f: Rp.Figures = { label, rps: r.rps, p50: r.p50_us / 1000, p99: r.p99_us / 1000, max: r.max_us / 1000, errors: r.errors + r.unexpected, sample: undefined, cpuUs };
    cx.say(Rp.runLine(f));
    return f;
  } catch (err) {
    cx.suite.failures.push(`${label}: sockbench failed`);
    return { label, skipped: (err as Error).message.split('\n')[0]! };
  }
}

/**
 * smapd+sockmap forwarding to `upstream`, against the same load straight to `upstream`: with the C load
 * generator when it is built (the judged pair), and with the Node one (judged only when there is no C one).
 */
async function sockmapRows(cx: BackendContext, upstream: RunningServer): Promise<BackendRow[]> {
  const label = 'smapd+sockmap';
  const bareLabel = 'bare client to the upstream';
  const start = () => cx.suite.start(label, cx.smapd('sockmap', 'sockmap', `url=inet://127.0.0.1:${upstream.port}`));
  if (!hasModule(cx.dist, 'sockmap')) {
    return [skipRow(cx, label, bareLabel, 'module sockmap is not in this build')];
  }
  const rows: BackendRow[] = [];
  const tools = cx.cTools();
  if (tools !== undefined) {
    const keysFile = writeKeysFile(cx.workDir, cx.entries, 'sockmap-c-keys.txt');
    const cLabel = `${label}, C load generator`;
    const cBare = `${bareLabel}, C load generator`;
    const bare = (tag: string) => cLoad(cx, tools, upstream, `${cBare}${tag}`, keysFile);
    rows.push(await paired(cx, cLabel, cBare, await start(), bare, { smapd: (s, tag) => cLoad(cx, tools, s, `${cLabel}${tag}`, keysFile) }));
  }
  const nodeLabel = tools === undefined ? label : `${label}, Node load generator`;
  const nodeBare = tools === undefined ? bareLabel : `${bareLabel}, Node load generator`;
  const bare = (tag: string) => cx.suite.load(upstream, `${nodeBare}${tag}`, cx.load);
  rows.push(await paired(cx, nodeLabel, nodeBare, await start(), bare, { judged: tools === undefined }));
  return rows;
}

/** Entries in the bench directory: slapadd and slapd's memory set the size, not smapd. */
const LDAP_KEYS = 20_000;
const LDAP_BASE = `ou=people,${SUFFIX}`;

/** The suffix, the reader the ACL lets read, and one inetOrgPerson per entry: `mail` the key, `description` the value. */
function ldapData(entries: readonly Entry[]): string {
  const out = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ${READER_DN}\nobjectClass: person\ncn: reader\nsn: reader\nuserPassword: ${READER_PW}\n`,
    `dn: ${LDAP_BASE}\nobjectClass: organizationalUnit\nou: people\n`,
  ];
  entries.forEach((e, i) => out.push(`dn: uid=u${i},${LDAP_BASE}\nobjectClass: inetOrgPerson\nuid: u${i}\ncn: u${i}\nsn: u${i}\nmail: ${e.key}\ndescription: ${e.value}\n`));
  return out.join('\n');
}

async function ldapRow(cx: BackendContext): Promise<BackendRow> {
  const label = 'smapd+ldap';
  const bareLabel = 'bare ldapts client';
  const inFlight = cx.load.conns * cx.load.depth;
  const skip = (why: string): BackendRow => skipRow(cx, label, bareLabel, why);
  if (!hasModule(cx.dist, 'ldap')) return skip('module ldap is not in this build');
  const missing = slapdUnavailable();
  if (missing !== null) return skip(missing);
  // The entries around the middle one, which the start check of the smapd server asks for.
  const mid = Math.floor(cx.entries.length / 2);
  const subset = cx.entries.slice(Math.max(0, mid - LDAP_KEYS / 2), mid + LDAP_KEYS / 2);
  const keysFile = writeTextMap(cx.workDir, subset, 'ldap-keys.txt');
  const slapd = new Slapd();
  try {
    const began = Date.now();
    slapd.setup(ldapData(subset));
    await slapd.start();
    cx.say(`  slapd: ${subset.length} entries loaded and serving in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    // The password has a `#`, which would start a comment in smapd.conf outside quotes.
    const bind = `"binddn=${READER_DN}" "bindpw=${READER_PW}"`;
    const server = await cx.suite.start(
      label,
      cx.smapd('ldap', 'ldap', `uri=${slapd.url} base=${LDAP_BASE} ${bind} config-file= "filter=(mail=$key)" "positive-reply=OK \${description}"`),
    );
    return await paired(
      cx,
      label,
      bareLabel,
      server,
      async (tag) => {
        const r = await runJob(cx.dist, {
          kind: 'ldap',
          opts: {
            url: slapd.url,
            bindDn: READER_DN,
            bindPassword: READER_PW,
            base: LDAP_BASE,
            keyAttribute: 'mail',
            valueAttribute: 'description',
            concurrency: inFlight,
            seconds: cx.seconds,
            warmupSeconds: cx.warmup,
            keysFile,
          },
        });
        if (r.kind !== 'load') return { label: bareLabel, skipped: r.kind === 'failed' ? r.error.split('\n')[0]! : 'no figures' };
        const f = Rp.figuresOf(`${bareLabel}${tag}`, r.result.rps, r.result.latency, r.result.errors, r.result.sample, undefined);
        cx.say(Rp.runLine(f));
        return f;
      },
      { keysFile },
    );
  } catch (err) {
    return skip(`private slapd failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await slapd.destroy();
  }
}

/** Measure the backend rows and print their table; `upstream` is the baseline server, sockmap's upstream. */
export async function backendRuns(cx: BackendContext, upstream: RunningServer): Promise<BackendRow[]> {
  cx.say(`== backends: smapd next to a bare client making the same lookups, ${cx.load.conns * cx.load.depth} in flight ==`);
  // BENCH_BACKENDS=LIST (redis, sockmap, ldap; default all): only these rows, for a run of one backend.
  const only = new Set((process.env.BENCH_BACKENDS ?? 'redis,sockmap,ldap').split(',').map((s) => s.trim()));
  const rows: BackendRow[] = [];
  if (only.has('redis')) rows.push(await redisRow(cx));
  if (only.has('sockmap')) rows.push(...(await sockmapRows(cx, upstream)));
  if (only.has('ldap')) rows.push(await ldapRow(cx));
  cx.say();
  cx.say(
    Rp.table(
      ['smapd row', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'err', 'bare client', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'err', 'rate ratio'],
      rows.map((r) => [
        cx.rounds > 1 ? `${r.label} (median of ${cx.rounds})` : r.label,
        ...Rp.cells(r.smapd),
        r.bareLabel,
        ...Rp.cells(r.bare),
        Rp.ratio(r.smapd, r.bare),
      ]),
    ),
  );
  cx.say('rate ratio: smapd over the bare client run just before it (1.00x = as fast)');
  cx.say();
  return rows;
}

/** The targets of the backend rows: smapd keeps at least 0.7x of the bare client's rate. */
export function backendTargets(rows: readonly BackendRow[]): Rp.Target[] {
  return rows.filter((r) => r.judged).map((r) => ({
    what: `${r.label} >= 0.7x ${r.bareLabel}, ${r.inFlight} in flight`,
    measured: Rp.isFigures(r.smapd) && Rp.isFigures(r.bare) && r.bare.rps > 0 ? `${(r.smapd.rps / r.bare.rps).toFixed(2)}x` : undefined,
    pass: Rp.isFigures(r.smapd) && Rp.isFigures(r.bare) && r.smapd.rps >= 0.7 * r.bare.rps,
  }));
}
