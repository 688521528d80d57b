/**
 * `node dist/bench/sockmap-hop.js`: what the sockmap hop costs, in pairs of runs with fresh processes: the C
 * load generator straight to an upstream (the Node baseline server), then through a smapd forwarding to it
 * with the sockmap module. Each run prints the rate, the CPU time per lookup of the upstream and of smapd,
 * and their read and write system calls per lookup (`/proc/PID/io`), then the pair's rate ratio.
 *
 *   BENCH_C_DIR=DIR  where sockbench was built (default: built from ../shared/tools/sockbench into a temp dir)
 *   HOP_PAIRS=N      pairs (default 4)
 *   HOP_SHAPE=CxD    connections x depth (default 16x1)
 *   HOP_SECONDS=N    measured seconds per run (default 5), after a 1 s warm-up
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cToolsFromEnv, runSockbench, type CTools } from './c-tools.js';
import { cpuSeconds } from './cpu.js';
import * as F from './fixtures.js';
import { startBaseline, startSmapd, type RunningServer } from './processes.js';
import { formatRate, lowerMedianOf } from './report.js';

const dist = path.resolve(import.meta.dirname, '..');
const say = (line = '') => process.stdout.write(line + '\n');
const num = (v: string | undefined, d: number) => (v !== undefined && Number(v) > 0 ? Number(v) : d);
const [CONNS, DEPTH] = (process.env.HOP_SHAPE ?? '16x1').split('x').map(Number) as [number, number];
const SECONDS = num(process.env.HOP_SECONDS, 5);
const PAIRS = num(process.env.HOP_PAIRS, 4);

/** CPU seconds and read/write system calls of a process so far. */
function counters(pid: number | undefined): [number, number, number] {
  if (pid === undefined) return [0, 0, 0];
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? 0);
  return [cpuSeconds(pid) ?? 0, field('syscr'), field('syscw')];
}

function perLookup(name: string, a: readonly number[], b: readonly number[], n: number): string {
  return `${name} ${(((b[0]! - a[0]!) * 1e6) / n).toFixed(1)} µs, r/w ${((b[1]! - a[1]!) / n).toFixed(2)}/${((b[2]! - a[2]!) / n).toFixed(2)}`;
}

async function run(tools: CTools, target: RunningServer, others: readonly RunningServer[], keysFile: string, label: string): Promise<number> {
  const procs = [target, ...others];
  const before = procs.map((p) => counters(p.pid));
  const r = await runSockbench(tools, { port: target.port, map: F.MAP_NAME, keysFile, conns: CONNS, depth: DEPTH, seconds: SECONDS, warmup: 1, expectPrefix: 'OK ' });
  const after = procs.map((p) => counters(p.pid));
  const n = r.requests + r.warmup_requests;
  if (r.errors + r.unexpected > 0) throw new Error(`${label}: ${r.errors} errors, ${r.unexpected} unexpected replies`);
  say(`  ${label.padEnd(16)} ${formatRate(r.rps).padStart(9)} lookups/s   ${procs.map((p, i) => perLookup(p.name, before[i]!, after[i]!, n)).join('   ')}`);
  return r.rps;
}

async function main(): Promise<number> {
  const workDir = F.makeWorkDir();
  try {
    const tools = cToolsFromEnv(workDir);
    if (typeof tools === 'string') {
      say(`sockmap-hop: ${tools}`);
      return 2;
    }
    const entries = F.makeEntries(num(process.env.BENCH_KEYS, 100_000));
    const mapFile = F.writeTextMap(workDir, entries);
    const keysFile = F.writeKeysFile(workDir, entries);
    const ratios: number[] = [];
    for (let pair = 1; pair <= PAIRS; pair++) {
      say(`pair ${pair}`);
      let up = await startBaseline(dist, mapFile);
      const direct = await run(tools, { ...up, name: 'upstream' }, [], keysFile, 'direct').finally(() => up.stop());
      up = await startBaseline(dist, mapFile);
      try {
        const smapd = await startSmapd(dist, 'hop', F.writeConfig(workDir, 'hop', 'sockmap', `url=inet://127.0.0.1:${up.port}`));
        try {
          const via = await run(tools, { ...smapd, name: 'smapd' }, [{ ...up, name: 'upstream' }], keysFile, 'through smapd');
          ratios.push(via / direct);
          say(`  ratio ${(via / direct).toFixed(2)}x`);
        } finally {
          await smapd.stop();
        }
      } finally {
        await up.stop();
      }
    }
    say(`ratios ${ratios.map((r) => r.toFixed(2)).join(' ')}; median ${lowerMedianOf(ratios)?.toFixed(2) ?? '-'}x`);
    return 0;
  } finally {
    F.removeWorkDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sockmap-hop: crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
