/**
 * The control socket: a unix socket, mode 0600, for the administrator (`smapc --control`). Requests and
 * replies are netstrings; a request is one command line, a reply `OK text` or `ERR message`. Requests on
 * one connection are answered in order.
 *
 * The socket is created under a umask that leaves it accessible to the owner only, so there is no moment in
 * which another local user could connect: anyone who can, can rewrite what the mail server is told.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from 'pino';
import { ListenError, ProtocolError, RequestTooLargeError } from '../errors.js';
import { encodeNetstring, NetstringDecoder } from '../protocol/netstring.js';
import { decodeBytes, hasRawBytes, netstringOfBytes } from '../protocol/bytes.js';
import { clearStaleSocket } from '../server/unix-socket.js';
import { executeControl } from './commands.js';
import type { ControlTarget } from './target.js';

export interface ControlServerOptions {
  /** Largest request accepted, bytes (default 1 MiB). */
  readonly maxRequestSize?: number;
  /** Close a connection idle this long, ms (default 5 minutes). */
  readonly idleTimeoutMs?: number;
  /** Most connections at once (default 16): the socket is for people and scripts, not traffic. */
  readonly maxConnections?: number;
  /** Time limit for one database command, ms. */
  readonly commandTimeoutMs?: number;
}

export interface ControlServer {
  readonly path: string;
  /** Stop listening, drop open connections, and remove the socket file. */
  close(): Promise<void>;
}

export const DEFAULT_CONTROL_MAX_REQUEST = 1024 * 1024;
const DEFAULT_IDLE_MS = 5 * 60_000;
const DEFAULT_MAX_CONNECTIONS = 16;

export async function startControlServer(
  path: string,
  target: ControlTarget,
  log: Logger,
  opts: ControlServerOptions = {},
): Promise<ControlServer> {
  const maxRequest = opts.maxRequestSize ?? DEFAULT_CONTROL_MAX_REQUEST;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket, target, log, maxRequest, opts);
  });
  server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;

  await clearStaleSocket(path, {
    notSocket: `control socket ${path}: the file exists and is not a socket`,
    live: `control socket ${path} is in use by a running process`,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(`control socket ${path}: cannot listen: ${err.message}`, { cause: err })),
    );
    // The bind happens inside listen(), synchronously, so the umask covers exactly the socket's creation.
    const old = process.umask(0o177);
    try {
      server.listen(path, resolve);
    } finally {
      process.umask(old);
    }
  });
  server.on('error', (err) => log.error({ err: err.message }, 'control socket error'));
  // Remember which file is ours, so close() does not remove a socket another process put there since.
  const ino = lstatSync(path).ino;
  log.info({ path }, 'control socket listening');

  let closing: Promise<void> | null = null;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        try {
          if (lstatSync(path).ino === ino) unlinkSync(path);
        } catch {
          /* already gone */
        }
      });
      return closing;
    },
  };
}

function serve(socket: net.Socket, target: ControlTarget, log: Logger, maxRequest: number, opts: ControlServerOptions): void {
  const decoder = new NetstringDecoder(maxRequest);
  let queue: Promise<void> = Promise.resolve();
  let broken = false;
  socket.setTimeout(opts.idleTimeoutMs ?? DEFAULT_IDLE_MS, () => socket.destroy());
  socket.on('error', () => undefined);

  const send = (payload: string) => {
    // A reply naming an 8-bit key (bytes.ts) gives back its bytes.
    if (!socket.destroyed) socket.write(hasRawBytes(payload) ? netstringOfBytes(payload) : encodeNetstring(payload));
  };

  socket.on('data', (chunk: Buffer) => {
    if (broken) return;
    try {
      decoder.push(chunk, (buf, start, end) => {
        // Decoded as sockmap requests are, so `bind` can take an 8-bit key that a client will look up.
        const line = decodeBytes(buf, start, end);
        queue = queue.then(async () => {
          const r = await executeControl(target, line, log, opts.commandTimeoutMs);
          send((r.ok ? 'OK ' : 'ERR ') + r.text);
        });
      });
    } catch (err) {
      if (!(err instanceof ProtocolError || err instanceof RequestTooLargeError)) throw err;
      // Framing is lost: nothing after this point can be read reliably. Say why, after the replies already due.
      broken = true;
      log.warn({ err: err.message }, 'control: malformed request; closing connection');
      queue = queue.then(() => {
        send(`ERR ${err.message}`);
        socket.end();
      });
    }
  });
  socket.on('end', () => {
    void queue.then(() => {
      if (!broken) socket.end();
    });
  });
}
