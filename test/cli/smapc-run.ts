/** Run smapc in-process (smapcMain with injected streams) or as a real process, and collect what it says. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { smapcMain } from '../../src/cli/smapc.js';

export interface SmapcRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** smapc with stdin from `input` (not a TTY, so batch mode unless told otherwise) and HOME set to `home`. */
export async function runSmapc(args: string[], opts: { input?: string; home: string }): Promise<SmapcRun> {
  const stdout = new Collector();
  const stderr = new Collector();
  const stdin = Readable.from(opts.input === undefined ? [] : [Buffer.from(opts.input)]);
  const code = await smapcMain(args, { stdin, stdout, stderr, env: { HOME: opts.home } });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * The interactive shell: stdin claims to be a terminal, lines are typed one at a time (each after the
 * previous prompt), and the output is returned without the terminal's escape sequences.
 */
export async function runShell(args: string[], lines: string[], home: string): Promise<SmapcRun> {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const stdout = new Collector();
  const stderr = new Collector();
  const done = smapcMain(args, { stdin, stdout, stderr, env: { HOME: home } });
  for (const line of lines) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    stdin.write(line + '\n');
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  stdin.end();
  const code = await done;
  const plain = stdout.text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  return { code, stdout: plain, stderr: stderr.text };
}

/** The compiled smapc, wherever the tests were compiled to. */
export const SMAPC_JS = path.resolve(import.meta.dirname, '../../src/cli/smapc.js');

export function spawnSmapc(args: string[], opts: { input?: string; home: string }): Promise<SmapcRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [SMAPC_JS, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HOME: opts.home },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}
