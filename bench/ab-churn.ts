/**
 * `node dist/bench/ab-churn.js OTHER_DIST`: connection churn, this build against another (e.g. the main
 * checkout's dist), A/B alternated so that both see the same noise. Each round runs `sockbench --reconnect`
 * (connect, one request, close, 16 at a time) against each smapd+file in turn and reads the server's CPU
 * time from /proc (no warm-up inside a run, so the CPU counted is that of the connections counted; a first
 * round, not counted, warms every server up); the medians of CPU per connection are printed. With AB_BASELINE=1 the bare Node
 * baseline server of each build runs too.
 *
 *   BENCH_C_DIR=DIR  where sockbench was built (required)
 *   AB_SECONDS=N     measured seconds per run (default 3)
 *   AB_ROUNDS=N      rounds (default 5)
 *   AB_CONNS=N       connections at a time (default 16)
 */
import path from 'node:path';
import { findCTools, runSockbench } from './c-tools.js';
import { cpuSeconds } from './cpu.js';
import * as F from './fixtures.js';
import { MAP_NAME } from './fixtures.js';
import { probe, startBaseline, startSmapd, type RunningServer } from './processes.js';
import { medianOf } from './report.js';

const here = path.resolve(import.meta.dirname, '..');
const num = (v: string | undefined, d: number) => (v !== undefined && Number(v) > 0 ? Number(v) : d);
const say = (line: string) => process.stdout.write(line + '\n');

const median = (xs: readonly number[]): number => medianOf(xs) ?? NaN;

async function main(): Promise<number> {
  const other = process.argv[2];
  const tools = findCTools(process.env.BENCH_C_DIR ?? '');
  if (other === undefined || typeof tools === 'string') {
    say('usage: BENCH_C_DIR=DIR node dist/bench/ab-churn.js OTHER_DIST' + (typeof tools === 'string' ? `\n${tools}` : ''));
    return 2;
  }
  const seconds = num(process.env.AB_SECONDS, 3);
  const rounds = num(process.env.AB_ROUNDS, 5);
  const conns = num(process.env.AB_CONNS, 16);
  const workDir = F.makeWorkDir();
  const servers: RunningServer[] = [];
  try {
    const entries = F.makeEntries(10_000);
    const mapFile = F.writeTextMap(workDir, entries);
    const keysFile = F.writeKeysFile(workDir, entries);
    const conf = F.writeConfig(workDir, 'ab', 'file', `file=${mapFile}`);
    const dists = [path.resolve(other), here];
    for (const [i, d] of dists.entries()) servers.push(await startSmapd(d, i === 0 ? 'A smapd (other)' : 'B smapd (this)', conf));
    if (process.env.AB_BASELINE === '1') {
      for (const d of dists) servers.push(await startBaseline(d, mapFile));
      servers[2] = { ...servers[2]!, name: 'A baseline (other)' };
      servers[3] = { ...servers[3]!, name: 'B baseline (this)' };
    }
    for (const s of servers) await probe(s.port, MAP_NAME, entries[0]!.key);
    const cpu = servers.map((): number[] => []);
    const rate = servers.map((): number[] => []);
    for (let round = -1; round < rounds; round++) {
      // Alternate the order each round, so neither build always runs right after the other.
      const order = servers.map((_, i) => i);
      if (round % 2 !== 0) order.reverse();
      for (const i of order) {
        const s = servers[i]!;
        const c0 = cpuSeconds(s.pid)!;
        const r = await runSockbench(tools, {
          port: s.port,
          map: MAP_NAME,
          keysFile,
          conns,
          depth: 1,
          seconds,
          warmup: 0,
          reconnect: true,
          expectPrefix: 'OK ',
        });
        const c1 = cpuSeconds(s.pid)!;
        if (r.errors + r.unexpected > 0) say(`${s.name}: ${r.errors} errors, ${r.unexpected} unexpected`);
        if (round < 0) continue;
        cpu[i]!.push(((c1 - c0) * 1e6) / r.connects);
        rate[i]!.push(r.rps);
      }
    }
    for (const [i, s] of servers.entries()) {
      const all = cpu[i]!.map((v) => v.toFixed(0)).join(' ');
      say(`${s.name.padEnd(20)} median ${median(cpu[i]!).toFixed(1)} us CPU/conn (${all}); ${median(rate[i]!).toFixed(0)} conn/s`);
    }
    return 0;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    F.removeWorkDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ab-churn: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
