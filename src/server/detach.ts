/**
 * Daemon mode without fork(2): start a detached copy of this process in foreground mode and wait until it
 * says it is listening (or dies), so the exit code of `smapd` tells whether the daemon came up.
 */
import { spawn } from 'node:child_process';

export const DETACHED_ENV = 'SMAPD_DETACHED';

/** In the parent: spawn the daemon; resolves with the exit code the parent should exit with. */
export function detach(argv: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...argv, '--foreground'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, [DETACHED_ENV]: '1' },
    });
    child.once('message', (msg) => {
      if (msg === 'ready') {
        child.disconnect();
        child.unref();
        resolve(0);
      }
    });
    child.once('exit', (code) => resolve(code === 0 || code === null ? 1 : code));
    child.once('error', () => resolve(1));
  });
}

/** In the daemon: tell the waiting parent that start-up is done, and let go of its stderr. */
export function notifyReady(): void {
  if (process.env[DETACHED_ENV] === '1' && typeof process.send === 'function') {
    process.send('ready');
    process.disconnect?.();
  }
}
