/**
 * smapd as an operator runs it: `smapd -f -c FILE`, a real process with its config in a file, its JSON log
 * on stderr. Tests wait for log lines (events), never for fixed times, and every process started here is
 * killed by `stopAll()` in an after-hook whatever the outcome, so a failed assertion leaves no daemon behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fixture } from './paths.js';

export const SMAPD_JS = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');

export type LogLine = Record<string, unknown> & { msg?: string };

export interface SpawnedSmapd {
  readonly process: ChildProcess;
  readonly pid: number;
  /** The temp dir `@DIR@` stands for; removed by stopAll(). */
  readonly dir: string;
  readonly configFile: string;
  /** Write a new config (same substitutions and load path as at start), e.g. before a SIGHUP. */
  rewriteConfig(configText: string): void;
  /** Every JSON log line so far; stderr lines that are not JSON are kept as `{ msg: text }`. */
  readonly lines: LogLine[];
  /** stderr as text, for assertion messages. */
  stderr(): string;
  /** The first log line (past or future) whose msg matches; rejects after `ms` or when the process exits. */
  waitForLog(msg: RegExp, ms?: number, from?: number): Promise<LogLine>;
  /** The exit code (or the signal name), once the process has exited. */
  readonly exited: Promise<number | string>;
  /** `exited`, but rejects when the process is still running after `ms` (stopAll() then kills it). */
  exitCode(ms?: number): Promise<number | string>;
  /** `smapd started`'s bound address of a server (its real port when the config said 0). */
  address(serverId: string): Promise<string>;
  /** SIGTERM, then the exit code; SIGKILL if it has not exited within `ms`. */
  stop(ms?: number): Promise<number | string>;
}

const running = new Set<SpawnedSmapd>();

export interface SpawnOptions {
  /** Extra smapd arguments (after `-f -c FILE`). */
  args?: string[];
  /** Use this dir instead of a new temp dir (not removed by stopAll). */
  dir?: string;
  /** Do not prepend the test fixture module dir to the load path. */
  noFixtureModules?: boolean;
}

/**
 * Write `configText` (`@DIR@` = a temp dir, `@FIXTURES@` = test/fixtures) to a file and start `smapd -f -c`
 * on it. The fixture module dir is on the load path, so `module t testmod` works.
 */
export function spawnSmapd(configText: string, opts: SpawnOptions = {}): SpawnedSmapd {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'smapd-spawn-'));
  const head = opts.noFixtureModules ? '' : `prepend-load-path ${fixture('modules')}\n`;
  const configFile = path.join(dir, 'smapd.conf');
  const rewriteConfig = (text: string) => writeFileSync(configFile, head + text.replaceAll('@DIR@', dir).replaceAll('@FIXTURES@', fixture()));
  rewriteConfig(configText);
  const child = spawn(process.execPath, [SMAPD_JS, '-f', '-c', configFile, ...(opts.args ?? [])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: LogLine[] = [];
  let text = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      if (l.trim() === '') continue;
      try {
        lines.push(JSON.parse(l) as LogLine);
      } catch {
        lines.push({ msg: l });
      }
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    for (const w of waiters) w();
  });

  const waitForLog = (msg: RegExp, ms = 15_000, from = 0): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.slice(from).find((l) => msg.test(String(l.msg ?? '')));
        if (hit !== undefined) return finish(() => resolve(hit));
        if (hasExited) return finish(() => reject(new Error(`smapd exited before logging ${msg}; stderr:\n${text}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`smapd did not log ${msg} within ${ms} ms; stderr:\n${text}`))), ms);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });

  const self: SpawnedSmapd = {
    process: child,
    pid: child.pid!,
    dir,
    configFile,
    rewriteConfig,
    lines,
    stderr: () => text,
    waitForLog,
    exited,
    exitCode(ms = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`smapd still runs after ${ms} ms; stderr:\n${text}`)), ms);
      });
      return Promise.race([exited, late]).finally(() => clearTimeout(timer));
    },
    async address(serverId) {
      const started = await waitForLog(/^smapd started$/);
      const a = (started.addresses as Record<string, string> | undefined)?.[serverId];
      if (a === undefined) throw new Error(`no server ${serverId} in ${JSON.stringify(started.addresses)}`);
      return a;
    },
    async stop(ms = 15_000) {
      if (!hasExited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exited;
      clearTimeout(timer);
      running.delete(self);
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
  running.add(self);
  return self;
}

/** Kill every smapd started here and not stopped yet, and remove their dirs: for after-hooks. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop(5000)));
}

/** The TCP port of an `inet://host:port` address. */
export function portOf(address: string): number {
  const m = /:(\d+)$/.exec(address);
  if (m === null) throw new Error(`no port in ${address}`);
  return Number(m[1]);
}

/** Every smapd `startSmapdProcess` started, so a test file's after-hook (`killStartedSmapds`) stops those a failed test left running. */
const started = new Set<ChildProcess>();

/** `smapd -f -c CONF`, stderr piped (its JSON log), tracked for `killStartedSmapds`. */
export function startSmapdProcess(conf: string): ChildProcess {
  const p = spawn(process.execPath, [SMAPD_JS, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(p);
  return p;
}

/** SIGKILL every smapd `startSmapdProcess` started that is still running, and wait for each to exit. */
export async function killStartedSmapds(): Promise<void> {
  for (const p of started) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}
