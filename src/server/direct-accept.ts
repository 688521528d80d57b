/**
 * Listeners that make one socket per accepted connection, not two. A `net.Server` wraps each accepted
 * handle in a `net.Socket` of its own, and smapd then moved the handle into a second socket that reads into
 * the shared buffer (shared-read.ts), destroying the first: two sockets, with their stream states, emitters
 * and destroy sequence, for every connection, about a tenth of smapd's CPU time under connection churn
 * (docs/performance.md). Here the listening handle's accept callback is taken over, so that the accepted
 * handle goes straight into a socket made with the shared read buffer.
 *
 * This relies on `server._handle.onconnection`, the callback Node's TCP and pipe listeners are given for
 * each accepted handle (set by Node itself when it starts listening, and called by the native side with the
 * listening handle as `this`); the `handle` and `onread` socket options are public. When the callback or
 * the accepted handle is not as expected, the stock callback runs instead, and the server's 'connection'
 * event brings a socket as before. Accept errors (EMFILE and the like) also go to the stock callback, which
 * reports them as the server's 'error' event, as before.
 *
 * The socket made here is not counted in the server's `connections` (the daemon keeps its own count and waits
 * for its own connections on stop); neither was the second socket before.
 */
import type net from 'node:net';
import { readIntoSharedBuffer, type SharedReadSocket } from './shared-read.js';

/** The native handle of a listening server, as far as this file uses it. */
interface ListenHandle {
  onconnection?: (this: ListenHandle, err: number, client: object | undefined) => void;
}

interface AcceptedHandle {
  useUserBuffer?: unknown;
  readStart?: unknown;
}

/**
 * From now on, hand each connection `server` accepts to `onSocket`, already reading into the shared buffer
 * (`allowHalfOpen` as the server was created with). Call once the server listens. Returns false, leaving the server as it was, when this Node offers no way
 * to do it; connections then come as the server's 'connection' events.
 */
export function acceptOntoSharedReads(
  server: net.Server,
  allowHalfOpen: boolean,
  onSocket: (accepted: SharedReadSocket) => void,
): boolean {
  const handle = (server as net.Server & { _handle?: ListenHandle | null })._handle;
  const stock = handle?.onconnection;
  if (handle === null || handle === undefined || typeof stock !== 'function') return false;
  handle.onconnection = function (this: ListenHandle, err: number, client: object | undefined): void {
    const c = client as AcceptedHandle | undefined;
    if (err || c === undefined || typeof c.useUserBuffer !== 'function' || typeof c.readStart !== 'function') {
      stock.call(this, err, client);
      return;
    }
    onSocket(readIntoSharedBuffer(c, allowHalfOpen));
  };
  return true;
}
