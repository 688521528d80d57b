/**
 * `node dist/bench/file-reload.js [LINES]`: how long a reload of a big `file` map holds the event loop.
 * Writes a map of LINES (default 1,000,000) `user@domain  value` lines, loads it, then loads it again while a
 * 1 ms timer records the gaps between its runs (a lookup arriving then would wait as long), and prints the
 * load time (and CPU time), the 99th percentile and the worst gap, the CPU time this process used during the worst gap (on a
 * busy machine a gap can be the scheduler's, not the load's: then the CPU time is much shorter than the gap),
 * the most CPU time used in any one gap (the longest the load itself held the loop), the size of the table and
 * the RSS. Not part of `npm run bench`: it takes a few seconds and a few hundred MB.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadMapFile } from '../modules/file/load.js';

const LINES = Number(process.argv[2] ?? 1_000_000);
const file = path.join(tmpdir(), `smapd-bench-reload-${LINES}.map`);
if (!existsSync(file)) {
  const parts: string[] = [];
  for (let i = 0; i < LINES; i++) parts.push(`user${i}@example${i % 1000}.com\tOK value-for-${i}@dest.example.net\n`);
  writeFileSync(file, parts.join(''));
}
const options = { store: (_k: string, v: string) => v };
let held = await loadMapFile(file, options);
const rssBefore = process.memoryUsage().rss;
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
let worst = 0;
let worstCpu = 0;
let mostCpu = 0;
let last = performance.now();
let lastCpu = process.cpuUsage();
const timer = setInterval(() => {
  const now = performance.now();
  const cpu = process.cpuUsage();
  const used = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
  mostCpu = Math.max(mostCpu, used);
  if (now - last > worst) {
    worst = now - last;
    worstCpu = used;
  }
  last = now;
  lastCpu = cpu;
}, 1);
const started = performance.now();
const startedCpu = process.cpuUsage();
held = await loadMapFile(file, options);
const loadMs = performance.now() - started;
const loadCpu = process.cpuUsage(startedCpu);
const rssPeak = process.memoryUsage().rss;
await new Promise((r) => setTimeout(r, 200));
clearInterval(timer);
delay.disable();
const mb = (n: number) => Math.round(n / 1e6);
process.stdout.write(
  `${held.entries.size} entries: reload ${Math.round(loadMs)} ms (${Math.round((loadCpu.user + loadCpu.system) / 1000)} ms CPU); event-loop gap p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, ` +
    `worst ${worst.toFixed(1)} ms (${worstCpu.toFixed(1)} ms CPU); most CPU in one gap ${mostCpu.toFixed(1)} ms; table ${mb(held.entries.byteLength)} MB; ` +
    `RSS ${mb(rssBefore)} MB with one map, ${mb(rssPeak)} MB at the end of the reload\n`,
);
