/**
 * Making way for a unix socket before listening on it. A socket file nobody accepts on is left by a crash and
 * may be replaced; a live one belongs to a running process and must not be stolen; a file of another kind
 * was never ours to remove.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { ListenError } from '../errors.js';

/** The error messages of clearStaleSocket, worded by the caller (a `server` listener, the control socket). */
export interface StaleSocketMessages {
  /** The path exists and is not a socket. */
  readonly notSocket: string;
  /** A process accepts connections on it. */
  readonly live: string;
  /** When set, a stale socket is refused with this message instead of being removed. */
  readonly keepStale?: string;
}

/** Whether a process accepts connections on the unix socket at `path`. */
function probeLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Remove a stale socket file at `path`, if there is one; throws ListenError when `path` cannot be used. */
export async function clearStaleSocket(path: string, messages: StaleSocketMessages): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ListenError(messages.notSocket);
  if (await probeLive(path)) throw new ListenError(messages.live);
  if (messages.keepStale !== undefined) throw new ListenError(messages.keepStale);
  unlinkSync(path);
}
