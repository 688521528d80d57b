/**
 * The processes of a bench run: smapd and the baseline server, each in its own process so that it has an
 * event loop (and, where there are cores enough, a core) to itself, and the forked load generator. The
 * orchestrator only starts, waits and collects.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { NetstringDecoder, encodeNetstring } from '../src/protocol/netstring.js';
import type { Job, JobResult } from './loadgen-worker.js';

/** A server under test, listening on loopback. */
export interface RunningServer {
  readonly name: string;
  readonly port: number;
  /** The server's process (the primary with `workers N`), for its CPU time. */
  readonly pid: number | undefined;
  /** Warnings and errors the server logged (smapd only), for the report. */
  readonly problems: string[];
  stop(): Promise<void>;
}

/** How long a server may take to say it is ready (smapd, the baseline, the C reference server). */
export const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** pino's numeric levels: 40 = warn. */
const PINO_WARN = 40;

/** SIGTERM, then SIGKILL if the child has not exited within STOP_TIMEOUT_MS; resolves once it has exited. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Start `smapd -f -c CONF --log-level info` and learn its port from the `listening` log line (the config
 * asks for port 0, so only smapd knows it).
 */
export function startSmapd(dist: string, name: string, conf: string): Promise<RunningServer> {
  const child = spawn(process.execPath, [path.join(dist, 'src/cli/smapd.js'), '-f', '-c', conf, '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const problems: string[] = [];
  const tail: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`smapd (${name}) did not report listening within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    // Read stderr to the end, always: a full pipe would block smapd's logging and so smapd itself.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      let rec: { level?: number; msg?: string; address?: string; err?: string } | undefined;
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        problems.push(line);
        return;
      }
      if (rec!.level !== undefined && rec!.level >= PINO_WARN) problems.push(`${rec!.msg ?? ''}${rec!.err ? `: ${rec!.err}` : ''}`);
      const m = rec!.msg === 'listening' ? /:(\d+)$/.exec(rec!.address ?? '') : null;
      if (m) {
        clearTimeout(timer);
        resolve({ name, port: Number(m[1]), pid: child.pid, problems, stop: () => stopChild(child) });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`smapd (${name}) exited with ${code ?? signal} before listening:\n  ${tail.join('\n  ')}`));
    });
  });
}

/** Start the baseline server; it prints its port as JSON on stdout. */
export function startBaseline(dist: string, mapFile: string): Promise<RunningServer> {
  const child = spawn(process.execPath, [path.join(dist, 'bench/baseline.js'), mapFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const { port } = JSON.parse(line) as { port: number };
      resolve({ name: 'baseline', port, pid: child.pid, problems: [], stop: () => stopChild(child) });
    });
    child.once('exit', (code, signal) => reject(new Error(`baseline exited with ${code ?? signal} before listening`)));
  });
}

/** Run one load job in a forked load generator and return its figures. */
export function runJob(dist: string, job: Job): Promise<JobResult> {
  const child = fork(path.join(dist, 'bench/loadgen-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let got: JobResult | undefined;
    child.once('message', (msg: JobResult) => (got = msg));
    child.once('exit', (code, signal) => {
      if (got !== undefined) resolve(got);
      else reject(new Error(`load generator exited with ${code ?? signal} without figures`));
    });
    child.send(job);
  });
}

/** Ask one question and return the reply text; used to check a server answers right before loading it. */
export function probe(port: number, map: string, key: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const decoder = new NetstringDecoder(1_000_000);
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      reject(new Error(`no reply to ${map} ${key} within ${timeoutMs} ms`));
    });
    s.on('connect', () => s.write(encodeNetstring(`${map} ${key}`)));
    s.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (buf, start, end) => {
          s.destroy();
          resolve(buf.toString('utf8', start, end));
        });
      } catch (err) {
        s.destroy();
        reject(err as Error);
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`connection closed before a reply to ${map} ${key}`)));
  });
}
