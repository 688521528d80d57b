/**
 * The C reference tools of the shared sockbench kit: `refsmapd` (a one-thread epoll sockmap server answering
 * from a hash map) and `sockbench` (a closed-loop C load generator). They are not part of smapd and not
 * built by npm. The C reference section runs only when they have been built (`make -C .../sockbench
 * OUT=DIR`) and `BENCH_C_DIR=DIR` says where; the sockmap backend row builds them itself when it can.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { cpuSeconds } from './cpu.js';
import { START_TIMEOUT_MS, stopChild, type RunningServer } from './processes.js';

export interface CTools {
  readonly sockbench: string;
  readonly refsmapd: string;
}

/** The two programs in `dir`, or why they cannot be used. */
export function findCTools(dir: string): CTools | string {
  const tools = { sockbench: path.resolve(dir, 'sockbench'), refsmapd: path.resolve(dir, 'refsmapd') };
  for (const p of Object.values(tools)) {
    try {
      accessSync(p, constants.X_OK);
    } catch {
      return `${p} is missing or not executable (build with: make -C ../shared/tools/sockbench OUT=${dir})`;
    }
  }
  return tools;
}

/**
 * Build the two programs from the kit's sources in `srcDir` into `outDir` (make, a C compiler); the tools,
 * or why they could not be built.
 */
export function buildCTools(srcDir: string, outDir: string): CTools | string {
  if (!existsSync(path.join(srcDir, 'Makefile'))) return `no sockbench sources in ${srcDir}`;
  try {
    execFileSync('make', ['-s', '-C', srcDir, `OUT=${outDir}`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  } catch (err) {
    const e = err as Error & { stderr?: Buffer };
    return `building sockbench failed: ${(e.stderr?.toString().trim().split('\n').pop() ?? '') || e.message}`;
  }
  return findCTools(outDir);
}

/** Where the shared kit keeps the tools' sources, beside this repository (from dist/bench). */
const SOCKBENCH_SRC = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'tools', 'sockbench');

/**
 * The tools in the directory BENCH_C_DIR names, or else built from the shared kit's sources into
 * `workDir/c-tools`; or why neither could be had.
 */
export function cToolsFromEnv(workDir: string): CTools | string {
  const dir = process.env.BENCH_C_DIR;
  return dir !== undefined && dir !== '' ? findCTools(dir) : buildCTools(SOCKBENCH_SRC, path.join(workDir, 'c-tools'));
}

/** `refsmapd -p 0 -f MAPFILE` on loopback; ready once it has printed its port and then `ready`. */
export function startRefsmapd(tools: CTools, mapFile: string): Promise<RunningServer> {
  const child = spawn(tools.refsmapd, ['-a', '127.0.0.1', '-p', '0', '-f', mapFile], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let port: number | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`refsmapd did not get ready within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /listening on [^\s]*:(\d+)/.exec(line);
      if (m) port = Number(m[1]);
      if (port !== undefined && /\bready\b/.test(line)) {
        clearTimeout(timer);
        resolve({ name: 'refsmapd', port, pid: child.pid, problems: [], stop: () => stopChild(child) });
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`refsmapd exited with ${code ?? signal} before it was ready`));
    });
  });
}

/** What the bench reads of sockbench's JSON line. */
export interface SockbenchResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50_us: number;
  readonly p99_us: number;
  readonly max_us: number;
  readonly errors: number;
  readonly unexpected: number;
  readonly connects: number;
  readonly warmup_requests: number;
}

export interface SockbenchRun {
  readonly port: number;
  readonly map: string;
  /** One key a line (sockbench picks them uniformly at random). */
  readonly keysFile: string;
  readonly conns: number;
  readonly depth: number;
  readonly seconds: number;
  readonly warmup: number;
  /** A new connection per request (`--reconnect`); depth is then 1. */
  readonly reconnect?: boolean;
  /** Replies not starting with this count as unexpected. */
  readonly expectPrefix: string;
}

export function runSockbench(tools: CTools, r: SockbenchRun): Promise<SockbenchResult> {
  const args = ['-h', '127.0.0.1', '-p', String(r.port), '-c', String(r.conns), '-d', String(r.seconds), '-w', String(r.warmup)];
  args.push('-m', r.map, '-k', r.keysFile, '-x', r.expectPrefix);
  if (r.reconnect === true) args.push('--reconnect');
  else args.push('-P', String(r.depth));
  return new Promise((resolve, reject) => {
    execFile(tools.sockbench, args, { timeout: (r.seconds + r.warmup + 60) * 1000 }, (err, stdout, stderr) => {
      if (err !== null) return reject(new Error(`sockbench ${args.join(' ')}: ${err.message}${stderr ? `: ${stderr.trim()}` : ''}`));
      try {
        const line = stdout.trim().split('\n').pop() ?? '';
        resolve(JSON.parse(line) as SockbenchResult);
      } catch {
        reject(new Error(`sockbench printed no JSON line: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

/**
 * One sockbench run against the server of process `pid`, with that server's CPU time per unit of work (µs per
 * request, or per connection with `reconnect`); the warm-up's work counts, as its CPU does.
 */
export async function sockbenchWithCpu(tools: CTools, pid: number | undefined, r: SockbenchRun): Promise<{ result: SockbenchResult; cpuUs: number | undefined }> {
  const cpu0 = cpuSeconds(pid);
  const result = await runSockbench(tools, r);
  const cpu1 = cpuSeconds(pid);
  const work = r.reconnect === true ? result.connects : result.requests + result.warmup_requests;
  const cpuUs = cpu0 !== undefined && cpu1 !== undefined && work > 0 ? ((cpu1 - cpu0) * 1e6) / work : undefined;
  return { result, cpuUs };
}
