/**
 * `node dist/bench/ab-core.js`: CPU time per request of two smapd builds serving the same `file` map, started
 * one after the other, round after round (A, B, A, B ...), so that the noise of a shared machine falls on
 * both alike. Each run starts a fresh server, loads it with the C load generator for a few seconds, and
 * divides the server process's CPU time (/proc, bench/cpu.ts) by the replies it sent. The medians per shape
 * are what to compare; one run's rate means little on a busy machine.
 *
 *   AB_A=DIST        the A build's dist directory (default /work/old/dist; its smapd must take the same config)
 *   AB_B=DIST        the B build's dist directory (default: this one)
 *   BENCH_C_DIR=DIR  where sockbench was built (make -C ../shared/tools/sockbench OUT=DIR; required)
 *   AB_MODULE=NAME   file (default), or sockmap: an asynchronous module, forwarding each lookup to the C
 *                    reference server (refsmapd, built beside sockbench) serving the same map
 *   AB_SHAPES=LIST   connections x depth, comma-separated (default 16x1,16x16)
 *   AB_ROUNDS=N      rounds (default 5)
 *   AB_SECONDS=N     measured seconds per run (default 3), after a 1 s warm-up
 *   BENCH_KEYS=N     entries in the map (default 100000)
 */
import path from 'node:path';
import { findCTools, runSockbench, startRefsmapd, type CTools } from './c-tools.js';
import { cpuSeconds } from './cpu.js';
import * as F from './fixtures.js';
import { startSmapd, type RunningServer } from './processes.js';
import { medianOf } from './report.js';

const here = path.resolve(import.meta.dirname, '..');
const num = (v: string | undefined, d: number) => (v !== undefined && Number(v) > 0 ? Number(v) : d);
const say = (line = '') => process.stdout.write(line + '\n');

interface Build {
  readonly name: string;
  readonly dist: string;
}

interface Shape {
  readonly conns: number;
  readonly depth: number;
}

function parseShapes(text: string): Shape[] {
  return text.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (m === null) throw new Error(`AB_SHAPES: '${s}' is not CONNSxDEPTH`);
    return { conns: Number(m[1]), depth: Number(m[2]) };
  });
}

/** One run: a fresh server of build `dist`, loaded for `seconds`; µs of server CPU per reply. */
async function cpuPerRequest(tools: CTools, dist: string, conf: string, keysFile: string, shape: Shape, seconds: number): Promise<number> {
  const server = await startSmapd(dist, 'ab', conf);
  try {
    const before = cpuSeconds(server.pid);
    const r = await runSockbench(tools, { port: server.port, map: F.MAP_NAME, keysFile, conns: shape.conns, depth: shape.depth, seconds, warmup: 1, expectPrefix: 'OK' });
    const after = cpuSeconds(server.pid);
    if (before === undefined || after === undefined) throw new Error('no CPU figures (/proc)');
    if (r.errors > 0 || r.unexpected > 0) throw new Error(`${r.errors} errors, ${r.unexpected} unexpected replies`);
    // The warm-up's replies cost CPU too, so they count in the divisor.
    return ((after - before) * 1e6) / (r.requests + r.warmup_requests);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<number> {
  const tools = findCTools(process.env.BENCH_C_DIR ?? '');
  if (typeof tools === 'string') {
    say(`ab-core: ${tools}`);
    return 2;
  }
  const builds: Build[] = [
    { name: 'A', dist: path.resolve(process.env.AB_A ?? '/work/old/dist') },
    { name: 'B', dist: path.resolve(process.env.AB_B ?? here) },
  ];
  const shapes = parseShapes(process.env.AB_SHAPES ?? '16x1,16x16');
  const rounds = Math.round(num(process.env.AB_ROUNDS, 5));
  const seconds = num(process.env.AB_SECONDS, 3);
  const workDir = F.makeWorkDir();
  try {
    const entries = F.makeEntries(Math.round(num(process.env.BENCH_KEYS, 100_000)));
    const mapFile = F.writeTextMap(workDir, entries);
    const keysFile = F.writeKeysFile(workDir, entries);
    const moduleName = process.env.AB_MODULE ?? 'file';
    let upstream: RunningServer | undefined;
    let conf: string;
    if (moduleName === 'sockmap') {
      upstream = await startRefsmapd(tools, mapFile);
      conf = F.writeConfig(workDir, 'ab', 'sockmap', `url=inet://127.0.0.1:${upstream.port}`);
    } else if (moduleName === 'file') {
      conf = F.writeConfig(workDir, 'ab', 'file', `file=${mapFile}`);
    } else {
      throw new Error(`AB_MODULE: '${moduleName}' is neither file nor sockmap`);
    }
    say(`module ${moduleName}`);
    try {
      await compare(tools, builds, conf, keysFile, shapes, rounds, seconds);
    } finally {
      await upstream?.stop();
    }
    return 0;
  } finally {
    F.removeWorkDir(workDir);
  }
}

/** Every shape, `rounds` times, each build once per round (in turn first); prints each round and the medians. */
async function compare(tools: CTools, builds: readonly Build[], conf: string, keysFile: string, shapes: readonly Shape[], rounds: number, seconds: number): Promise<void> {
  say(`A = ${builds[0]!.dist}\nB = ${builds[1]!.dist}\n${rounds} rounds, ${seconds} s each, µs of server CPU per request`);
  for (const shape of shapes) {
    const got: number[][] = builds.map(() => []);
    for (let round = 0; round < rounds; round++) {
      // Alternate which build goes first, so neither always runs on a machine just warmed by the other.
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) got[i]!.push(await cpuPerRequest(tools, builds[i]!.dist, conf, keysFile, shape, seconds));
      say(`  ${shape.conns}x${shape.depth} round ${round + 1}: A ${got[0]!.at(-1)!.toFixed(2)}  B ${got[1]!.at(-1)!.toFixed(2)}`);
    }
    const a = medianOf(got[0]!) ?? NaN;
    const b = medianOf(got[1]!) ?? NaN;
    say(`${shape.conns}x${shape.depth}: median A ${a.toFixed(2)} µs, B ${b.toFixed(2)} µs, B/A ${(b / a).toFixed(3)}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ab-core: crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
