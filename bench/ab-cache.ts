/**
 * `node dist/bench/ab-cache.js`: the result cache over the sqlite module, two smapd builds in paired runs
 * (A, B, A, B ... each round), CPU time of the smapd process per request (/proc, bench/cpu.ts) and the
 * rate, at 16 connections x depth 1 with the bench's own load generator. Each row is measured against the
 * same database without a cache in the same round, so the ratios say what the cache gains or costs.
 *
 *   AB_A=DIST        the A build's dist directory (default: this one)
 *   AB_B=DIST        the B build's dist directory (default: this one)
 *   AB_ROWS=LIST     rows, comma-separated: full, hot, zipf (default all three)
 *   AB_IMMUTABLE=1   the sqlite map opened with `immutable` (default: the default sqlite)
 *   AB_ROUNDS=N      rounds (default 3)
 *   AB_SECONDS=N     measured seconds per run (default 3), after a 1 s warm-up
 *   BENCH_KEYS=N     entries in the map (default 100000); the cache holds a fifth of them
 */
import path from 'node:path';
import * as F from './fixtures.js';
import { startSmapd } from './processes.js';
import { isFigures, medianOf } from './report.js';
import { Suite } from './suite.js';

const here = path.resolve(import.meta.dirname, '..');
const num = (v: string | undefined, d: number) => (v !== undefined && Number(v) > 0 ? Number(v) : d);
const say = (line = '') => process.stdout.write(line + '\n');

const KEYS = num(process.env.BENCH_KEYS, 100_000);
const ROUNDS = num(process.env.AB_ROUNDS, 3);
const SECONDS = num(process.env.AB_SECONDS, 3);
const HOT_KEYS = 1000;
/** Zipf's exponent of the skewed row: about what recipient and sender lookups of real mail show. */
const ZIPF = 1;
const builds = [
  { name: 'A', dist: path.resolve(process.env.AB_A ?? here) },
  { name: 'B', dist: path.resolve(process.env.AB_B ?? here) },
];
const rowNames = (process.env.AB_ROWS ?? 'full,hot,zipf').split(',').map((s) => s.trim());

interface Row {
  readonly name: string;
  readonly keysFile?: string;
  readonly zipf?: number;
}

const median = (xs: readonly number[]): number => medianOf(xs) ?? NaN;

/** Round by round, the ratio of `xs` to `base`; only the rounds where both were measured. */
function pairedRatios(xs: ReadonlyArray<number | undefined>, base: ReadonlyArray<number | undefined>): number[] {
  const out: number[] = [];
  xs.forEach((x, i) => {
    const b = base[i];
    if (x !== undefined && b !== undefined && b > 0) out.push(x / b);
  });
  return out;
}

const measured = (xs: ReadonlyArray<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined);

async function main(): Promise<number> {
  const workDir = F.makeWorkDir();
  try {
    const entries = F.makeEntries(KEYS);
    const keysFile = F.writeTextMap(workDir, entries);
    const sqliteFile = F.buildSqlite(workDir, entries);
    const hotFile = F.writeTextMap(workDir, entries.slice(0, HOT_KEYS), 'hot.txt');
    const suite = new Suite({ dist: here, seconds: SECONDS, warmup: 1, keysFile, entries, maxRequests: 200_000_000, say });
    const opts = process.env.AB_IMMUTABLE === '1' ? ' immutable' : '';
    const plain = `file=${sqliteFile}${opts}`;
    const cached = `${plain} begin\n  cache ttl=60s negative-ttl=60s size=${Math.round(KEYS / 5)}\nend`;
    const all: Record<string, Row> = { full: { name: 'full' }, hot: { name: 'hot', keysFile: hotFile }, zipf: { name: 'zipf', zipf: ZIPF } };
    const rows = rowNames.map((n) => all[n] ?? { name: n });
    // cpu µs/request and req/s per (row, build or 'none'), at the round's index (undefined: not measured), so
    // that a run that failed pairs no other round's runs with each other.
    const cpu = new Map<string, Array<number | undefined>>();
    const rate = new Map<string, Array<number | undefined>>();
    const note = (key: string, round: number, cpuUs: number | undefined, rps: number) => {
      (cpu.get(key) ?? cpu.set(key, []).get(key)!)[round - 1] = cpuUs;
      (rate.get(key) ?? rate.set(key, []).get(key)!)[round - 1] = rps;
    };
    for (let r = 1; r <= ROUNDS; r++) {
      for (const row of rows) {
        const sides = [{ tag: 'none', dist: builds[1]!.dist, db: plain }, ...builds.map((b) => ({ tag: b.name, dist: b.dist, db: cached }))];
        for (const side of sides) {
          const label = `${row.name} ${side.tag} #${r}`;
          const conf = F.writeConfig(workDir, `ab-${side.tag}`, 'sqlite', side.db);
          const server = await suite.start(label, () => startSmapd(side.dist, label, conf));
          if (typeof server === 'string') continue;
          const o = await suite.load(server, label, { conns: 16, depth: 1 }, row.keysFile, row.zipf);
          await suite.stop(label, server);
          if (isFigures(o)) note(`${row.name} ${side.tag}`, r, o.cpuUs, o.rps);
        }
      }
    }
    say();
    say('row   side   cpu µs/req (median)   req/s (median)   rate vs none   cpu vs none (medians of the paired ratios)');
    for (const row of rows) {
      for (const tag of ['none', ...builds.map((b) => b.name)]) {
        const key = `${row.name} ${tag}`;
        const rr = rate.get(key) ?? [];
        const cc = cpu.get(key) ?? [];
        const paired = pairedRatios(rr, rate.get(`${row.name} none`) ?? []);
        const cpuPaired = pairedRatios(cc, cpu.get(`${row.name} none`) ?? []);
        say(
          `${row.name.padEnd(5)} ${tag.padEnd(5)} ${median(measured(cc)).toFixed(2).padStart(19)}   ${Math.round(median(measured(rr))).toString().padStart(14)}   ${median(paired).toFixed(2).padStart(11)}x   ${median(cpuPaired).toFixed(2).padStart(10)}x`,
        );
      }
    }
    for (const f of suite.failures) say(`failed: ${f}`);
    return suite.failures.length === 0 ? 0 : 1;
  } finally {
    F.removeWorkDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ab-cache: crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
