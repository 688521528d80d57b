/**
 * Daemon mode without fork(2): start a detached copy of this process in foreground mode and wait until it
 * says it is listening (or fails), so the exit code of `smapd` tells whether the daemon came up. The daemon
 * gets /dev/null for its stdio, so nobody who ran `smapd` waits on a pipe the daemon holds open; its start-up
 * errors travel to the parent over the IPC channel, and the parent prints them.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export const DETACHED_ENV = 'SMAPD_DETACHED';

type FromDaemon = { t: 'ready' } | { t: 'error'; text: string };

/**
 * In the parent: spawn the daemon (`script` with the user's `argv` plus `--foreground`); resolves with the
 * exit code the parent should exit with.
 */
export function detach(script: string, argv: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const devnull = openSync('/dev/null', 'r+');
    const child = spawn(process.execPath, [...process.execArgv, script, ...argv, '--foreground'], {
      detached: true,
      stdio: [devnull, devnull, devnull, 'ipc'],
      env: { ...process.env, [DETACHED_ENV]: '1' },
    });
    closeSync(devnull);
    child.on('message', (msg: FromDaemon) => {
      if (msg.t === 'error') {
        process.stderr.write(msg.text.endsWith('\n') ? msg.text : msg.text + '\n');
      } else if (msg.t === 'ready') {
        child.disconnect();
        child.unref();
        resolve(0);
      }
    });
    child.once('exit', (code) => resolve(code === 0 || code === null ? 1 : code));
    child.once('error', (err) => {
      process.stderr.write(`smapd: cannot start the daemon: ${err.message}\n`);
      resolve(1);
    });
  });
}

function detached(): boolean {
  return process.env[DETACHED_ENV] === '1' && typeof process.send === 'function' && process.connected;
}

/** In the daemon: tell the waiting parent that start-up is done, and let it go. */
export function notifyReady(): void {
  if (!detached()) return;
  process.send!({ t: 'ready' } satisfies FromDaemon);
  process.disconnect?.();
}

/** In the daemon, before it is ready: show a start-up error on the terminal of whoever started it. */
export function reportToParent(text: string): void {
  if (detached()) process.send!({ t: 'error', text } satisfies FromDaemon);
}
