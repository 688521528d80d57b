/**
 * The one buffer all sockets of the process read into through net's `onread` option: the server's client
 * connections (server/shared-read.ts) and the client's upstream connections (client/client.ts). A read makes
 * no Buffer and passes no stream machinery. One serves all because each read is decoded to the end (strings
 * out, a partial frame copied by its decoder) before the event loop makes the next read.
 */

/** Large enough for a burst of pipelined requests in one read; a longer frame spans reads, as on any socket. */
export const SHARED_READ_BUFFER_SIZE = 64 * 1024;

let shared: Buffer | undefined;

export function sharedReadBuffer(): Buffer {
  return (shared ??= Buffer.allocUnsafe(SHARED_READ_BUFFER_SIZE));
}
