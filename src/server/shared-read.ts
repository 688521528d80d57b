/**
 * Accepted sockets that read into one buffer shared by the whole process, so that reading a request makes no
 * garbage. A stock `net.Socket` gets a fresh ArrayBuffer for every read; at tens of thousands of reads a
 * second, freeing them made each young-generation collection pause the event loop for 0.5-3 ms, about
 * eight times a second, and that pause was most of smapd's p99 latency (docs/performance.md).
 *
 * Node offers a reusable read buffer (the documented `onread` option of `new net.Socket()`) only to sockets
 * it creates itself, not to the ones a `net.Server` accepts. So the accepted socket's native handle is moved,
 * before a byte has been read, into a new `net.Socket` made with `onread`; the first socket, left without a
 * handle, is destroyed (it closes nothing). This relies on `socket._handle` and the `handle` constructor
 * option, which Node uses itself for every accepted and inherited socket; when they are not there, or the
 * socket has already read something, `shareReads` says why and the caller keeps the socket as it is,
 * reading through 'data' events as before.
 *
 * One buffer serves every socket because each read is handed to its connection's handler, which consumes it
 * to the end (strings out, partial frames copied) before the event loop makes the next read.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { sharedReadBuffer } from '../protocol/read-buffer.js';

/** Takes the bytes `chunk[0, length)`; they are valid only during the call. */
export type ChunkHandler = (chunk: Buffer, length: number) => void;

/** Where a shared-reading socket delivers its bytes; the connection sets `handler` when it takes over. */
export interface ChunkSink {
  handler: ChunkHandler;
}

export interface SharedReadSocket {
  readonly socket: net.Socket;
  readonly sink: ChunkSink;
}

/** The part of Node's native stream handle this file uses. */
interface NativeStreamHandle {
  reading?: boolean;
  readStop?: () => number;
  useUserBuffer?: (buf: Uint8Array) => void;
}

type SocketInternals = net.Socket & { _handle: NativeStreamHandle | null };

const nothing: ChunkHandler = () => undefined;

/**
 * Hand a stream's bytes to `handler`: through `sink` when the stream was moved onto the shared buffer
 * (`shareReads`), otherwise from its 'data' events (inetd pipes, or a socket that could not be moved).
 */
export function deliverChunks(stream: Duplex, sink: ChunkSink | undefined, handler: ChunkHandler): void {
  if (sink !== undefined) sink.handler = handler;
  else stream.on('data', (chunk: Buffer) => handler(chunk, chunk.length));
}

/**
 * Move an accepted socket that has not read yet onto the shared read buffer. Returns the socket to use from
 * now on and the sink its bytes go to, or, when that cannot be done, why (the socket is then untouched).
 */
export function shareReads(raw: net.Socket): SharedReadSocket | string {
  const internals = raw as SocketInternals;
  const handle = internals._handle;
  if (raw.destroyed) return 'the socket is closed';
  if (handle === null || handle === undefined) return 'the socket has no native handle';
  if (typeof handle.useUserBuffer !== 'function' || typeof handle.readStop !== 'function') {
    return `Node ${process.version} offers no reusable read buffer for this socket`;
  }
  if (raw.readableLength > 0) return 'the socket has already read data';
  // A socket passed from another process starts reading at once; nothing has arrived in this turn yet.
  if (handle.reading === true) {
    handle.readStop();
    handle.reading = false;
  }
  internals._handle = null;
  const moved = readIntoSharedBuffer(handle, raw.allowHalfOpen);
  raw.destroy();
  return moved;
}

/**
 * A new socket for a connected native handle that nothing has read from yet, reading into the shared buffer
 * (shareReads; and the listeners, which make no other socket for an accepted connection: direct-accept.ts).
 */
export function readIntoSharedBuffer(handle: object, allowHalfOpen: boolean): SharedReadSocket {
  const sink: ChunkSink = { handler: nothing };
  const options = {
    handle,
    allowHalfOpen,
    readable: true,
    writable: true,
    onread: {
      buffer: sharedReadBuffer(),
      callback: (length: number, buf: Uint8Array): boolean => {
        sink.handler(buf as Buffer, length);
        return true;
      },
    },
  };
  return { socket: new net.Socket(options as net.SocketConstructorOpts), sink };
}
