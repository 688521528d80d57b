/**
 * The client side of the control socket, for smapc: send one command line, wait for its one reply.
 */
import net from 'node:net';
import { ControlUnavailableError } from '../errors.js';
import { encodeNetstring, NetstringDecoder } from '../protocol/netstring.js';
import { decodeBytes, hasRawBytes, netstringOfBytes } from '../protocol/bytes.js';

export { ControlUnavailableError };

/** Replies can be large (`list` of a big table); this only guards against a peer that is not smapd. */
const MAX_REPLY = 256 * 1024 * 1024;
export const DEFAULT_CONTROL_TIMEOUT_MS = 90_000;

/** Send `line`; resolves with the raw reply (`OK text` or `ERR message`). */
export function controlCommand(path: string, line: string, timeoutMs = DEFAULT_CONTROL_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const decoder = new NetstringDecoder(MAX_REPLY);
    let done = false;
    const finish = (err: Error | null, reply?: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const socket = net.connect(path);
    socket.setTimeout(timeoutMs, () =>
      finish(new ControlUnavailableError(`control socket ${path}: no reply within ${Math.round(timeoutMs / 1000)} s`)),
    );
    socket.once('connect', () => socket.write(hasRawBytes(line) ? netstringOfBytes(line) : encodeNetstring(line)));
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (buf, start, end) => finish(null, decodeBytes(buf, start, end)));
      } catch (err) {
        finish(new ControlUnavailableError(`control socket ${path}: malformed reply: ${(err as Error).message}`));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(new ControlUnavailableError(explain(path, err), { cause: err })));
    socket.once('close', () => finish(new ControlUnavailableError(`control socket ${path}: closed without a reply`)));
  });
}

function explain(path: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return `control socket ${path} does not exist (is smapd running, with control-socket set?)`;
    case 'ECONNREFUSED':
      return `control socket ${path}: connection refused (smapd is not running)`;
    case 'EACCES':
      return `control socket ${path}: permission denied (run as the user smapd runs as)`;
    default:
      return `control socket ${path}: ${err.message}`;
  }
}
