/**
 * Opens the `server` listeners: TCP over IPv4 and IPv6, and unix sockets with mode and owner. An IPv6
 * listener on the any-address (`[::]`) takes IPv4 clients too, unless `ipv6-only yes` (conninfo.ts shows
 * them as IPv4). A stale unix
 * socket file (nobody accepting on it) is replaced; a live one is an error, so a second smapd cannot steal
 * the socket of a running one. Socket files are removed again on close.
 */
import { chmodSync, chownSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { ServerDecl } from '../config/types.js';
import { ListenError } from '../errors.js';
import { groupId, userId, userPrimaryGroup } from './accounts.js';
import { acceptOntoSharedReads } from './direct-accept.js';
import type { ChunkSink } from './shared-read.js';
import { clearStaleSocket } from './unix-socket.js';

export interface OpenListener {
  readonly decl: ServerDecl;
  readonly server: net.Server;
  /** The address actually bound (the real port when the config said 0). */
  readonly address: string;
  /** Accepted sockets read into the shared buffer from the start (direct-accept.ts); they come with their sink. */
  readonly direct: boolean;
  close(): Promise<void>;
}

function applyOwnership(decl: ServerDecl, path: string): void {
  chmodSync(path, decl.socketMode);
  const owner = decl.socketOwner;
  if (owner === undefined) return;
  const uid = owner.user !== undefined ? userId(owner.user) : -1;
  if (uid === undefined) throw new ListenError(`server ${decl.id}: no such user '${owner.user}'`);
  let gid = owner.group !== undefined ? groupId(owner.group) : -1;
  if (gid === undefined) throw new ListenError(`server ${decl.id}: no such group '${owner.group}'`);
  if (owner.group === undefined && owner.user !== undefined) gid = userPrimaryGroup(owner.user) ?? -1;
  chownSync(path, uid, gid);
}

export async function openListener(
  decl: ServerDecl,
  onConnection: (socket: net.Socket, listener: ServerDecl, sink?: ChunkSink) => void,
  opts: { pauseOnConnect?: boolean } = {},
): Promise<OpenListener> {
  // pauseOnConnect: a primary process hands sockets to workers before reading a byte (and reads none itself).
  const pauseOnConnect = opts.pauseOnConnect ?? false;
  // Half-open: a client may send its last request and shut down its side before reading the answer.
  const allowHalfOpen = true;
  const server = net.createServer({ allowHalfOpen, noDelay: true, pauseOnConnect }, (socket) =>
    onConnection(socket, decl),
  );
  const url = decl.url;
  if (url.kind === 'unix') {
    await clearStaleSocket(url.path, {
      notSocket: `server ${decl.id}: ${url.path} exists and is not a socket`,
      live: `server ${decl.id}: ${url.path} is in use by a running server`,
      keepStale: decl.reuseAddr ? undefined : `server ${decl.id}: stale socket ${url.path} exists (reuseaddr is off)`,
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(`server ${decl.id}: cannot listen on ${url.text}: ${err.message}`, { cause: err })),
    );
    if (url.kind === 'unix') server.listen({ path: url.path, backlog: decl.backlog }, resolve);
    else server.listen({ host: url.host, port: url.port, backlog: decl.backlog, ipv6Only: decl.ipv6Only }, resolve);
  });
  server.on('error', () => undefined);
  const direct = !pauseOnConnect && acceptOntoSharedReads(server, allowHalfOpen, (a) => onConnection(a.socket, decl, a.sink));
  let address: string;
  if (url.kind === 'unix') {
    try {
      applyOwnership(decl, url.path);
    } catch (err) {
      server.close();
      try {
        unlinkSync(url.path);
      } catch {
        /* already gone */
      }
      throw err;
    }
    address = `unix://${url.path}`;
  } else {
    const a = server.address() as net.AddressInfo;
    address = a.family === 'IPv6' ? `inet6://[${a.address}]:${a.port}` : `inet://${a.address}:${a.port}`;
  }
  return {
    decl,
    server,
    address,
    direct,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (url.kind === 'unix') {
          try {
            unlinkSync(url.path);
          } catch {
            /* already gone */
          }
        }
      }),
  };
}
