/**
 * `BENCH_C_DIR=DIR node dist/bench/file-memory.js [LINES] [DIST...]`: the memory and the CPU time per lookup of
 * smapd serving one big `file` map. Writes a map of LINES (default 1,000,000) lines
 * `user<i>@example<i%1000>.com  OK value-for-<i>@dest.example.net` (the map of file-reload.ts), starts smapd
 * from each DIST (default: this build's dist; give an old build's too for an A/B, alternated per round) and
 * prints its resident memory (VmRSS, VmHWM) after the load, then the server's CPU time per request under
 * sockbench at 16 connections x 16 in flight for 3 s (uniform random keys, a tenth of them misses). The C
 * reference server `refsmapd` of the sockbench kit is measured for the same map when BENCH_C_DIR holds it.
 * Not part of `npm run bench`; sockbench is needed for the CPU figures. ROUNDS=N repeats (default 1).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCTools, runSockbench, startRefsmapd, type CTools } from './c-tools.js';
import { cpuSeconds } from './cpu.js';
import { startSmapd, type RunningServer } from './processes.js';

const LINES = Number(process.argv[2] ?? 1_000_000);
const here = path.dirname(fileURLToPath(import.meta.url));
const dists = process.argv.length > 3 ? process.argv.slice(3) : [path.resolve(here, '../..')];
const ROUNDS = Number(process.env['ROUNDS'] ?? 1);

const work = mkdtempSync(path.join(tmpdir(), 'smapd-bench-memory-'));
const mapFile = path.join(tmpdir(), `smapd-bench-reload-${LINES}.map`);
if (!existsSync(mapFile)) {
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(`user${i}@example${i % 1000}.com\tOK value-for-${i}@dest.example.net\n`);
  writeFileSync(mapFile, parts.join(''));
}
const keysFile = path.join(work, 'keys.txt');
const keys: string[] = [];
const step = Math.max(1, Math.floor(LINES / 100_000));
for (let i = 0; i < LINES; i += step) keys.push(`user${i}@example${i % 1000}.com`);
for (let i = 0; i < keys.length / 10; i += 1) keys.push(`nobody${i}@example.com`);
writeFileSync(keysFile, keys.join('\n') + '\n');
const conf = path.join(work, 'smapd.conf');
writeFileSync(conf, `server s inet://127.0.0.1:0\nmodule file file\ndatabase m file file=${mapFile} reload=0\ndispatch map map database m\n`);

/** VmRSS and VmHWM of `pid`, in MB. */
function memoryOf(pid: number | undefined): string {
  if (pid === undefined) return 'memory unknown';
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string): number => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024);
  return `RSS ${mb('VmRSS')} MB (peak ${mb('VmHWM')} MB)`;
}

async function cpuPerRequest(tools: CTools | string, server: RunningServer): Promise<string> {
  if (typeof tools === 'string') return 'no CPU figure: ' + tools;
  const before = cpuSeconds(server.pid);
  const r = await runSockbench(tools, { port: server.port, map: 'map', keysFile, conns: 16, depth: 16, seconds: 3, warmup: 0, expectPrefix: '' });
  const after = cpuSeconds(server.pid);
  if (before === undefined || after === undefined) return `${Math.round(r.rps)} req/s`;
  return `${(((after - before) * 1e6) / r.requests).toFixed(2)} µs CPU/request (${Math.round(r.rps)} req/s, ${r.errors} errors)`;
}

const tools = findCTools(process.env['BENCH_C_DIR'] ?? '');
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const dist of dists) {
      const server = await startSmapd(path.join(dist, 'dist'), 'smapd', conf);
      try {
        // Let the collector settle what the load left behind.
        await new Promise((r) => setTimeout(r, 1000));
        const memory = memoryOf(server.pid);
        process.stdout.write(`${dist}: ${LINES} lines: ${memory}; ${await cpuPerRequest(tools, server)}\n`);
      } finally {
        await server.stop();
      }
    }
  }
  if (typeof tools !== 'string') {
    const ref = await startRefsmapd(tools, mapFile);
    try {
      process.stdout.write(`refsmapd: ${LINES} lines: ${memoryOf(ref.pid)}\n`);
    } finally {
      await ref.stop();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
