/**
 * One client connection: decode requests, dispatch each, and write replies back in request order. Replies
 * that are ready at once are batched into one `write` per incoming chunk; an async reply holds back the
 * ones behind it until it resolves.
 *
 * Memory is bounded per connection. A request is taken only while the replies not yet sent (batched,
 * buffered in the socket, held behind a slower one) plus room for each request still at a backend
 * (`max-reply-size` apiece) plus room for this one stay within `maxReplyBuffer`. Past that, answering stops
 * in the middle of a read (the rest of the bytes are kept, at most one read) and reading pauses, until the
 * client takes its replies ('drain') or a backend answers. A client that pipelines requests and never reads
 * its replies therefore costs `maxReplyBuffer`, not one reply per request. Reading also pauses while the
 * socket's write buffer is over its high-water mark, and past `MAX_IN_FLIGHT` unanswered requests.
 *
 * A client must not hold its connection without making progress: a request it has started must arrive
 * whole, and replies held back for it must be taken, within `requestTimeout`; otherwise it is disconnected.
 */
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ConnInfo } from '../modules/api.js';
import { NetstringDecoder } from '../protocol/netstring.js';
import { hasRawBytes, netstringOfBytes, textByteLength } from '../protocol/bytes.js';
import * as R from '../protocol/reply.js';
import type { Reply } from '../protocol/reply.js';
import { RequestSplitter } from '../protocol/request.js';
import { lookupClock } from '../metrics/latency.js';
import { Deferred } from '../modules/deferred.js';
import { ProtocolError, RequestTooLargeError } from '../errors.js';
import type { OpenNode } from './open-list.js';
import { deliverChunks, type ChunkSink } from './shared-read.js';
import type { RateLimitedWarning } from './rate-log.js';
import { countReply, type ServerStats } from './stats.js';

/** What a connection needs from the daemon; `dispatch` is fixed at accept so a reload leaves it on its config. */
export interface ConnectionContext {
  dispatch(map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply>;
  readonly maxRequestSize: number;
  readonly maxReplySize: number;
  /** ms; 0 = never. */
  readonly idleTimeout: number;
  /** ms for a started request to arrive whole, or for held-back replies to be taken; 0 = never. */
  readonly requestTimeout: number;
  /** Bytes of unsent replies (and room for replies still being worked on) past which answering stops. */
  readonly maxReplyBuffer: number;
  /** Where a request timeout is reported: one line per interval with a count. */
  readonly timeoutLog: RateLimitedWarning;
  readonly log: Logger;
  readonly stats: ServerStats;
  /** Called for each answered request when tracing is on. */
  readonly trace: ((map: string, key: string, reply: Reply, conn: ConnInfo) => void) | undefined;
  /** The `query` debug category's logger, when the debug spec turns it on. */
  readonly queryLog: Logger | undefined;
  /**
   * Called once, when the connection has closed (the daemon's bookkeeping). A callback rather than a
   * `.then` on `finished`: the context is shared by all connections of a server, and a promise per
   * connection is work that churn pays for every client.
   */
  readonly closed?: (conn: Connection) => void;
}

const MAX_IN_FLIGHT = 1024;
/** How long a connection we have ended waits for the peer to close its side before it is dropped. */
const LINGER_MS = 5000;

/**
 * The flushes of the connections whose async answers came in since the last one, made from one microtask: a
 * module answers the lookups of many connections in one callback (a backend's read), and with the module
 * scope's hook on (scope.ts) every queueMicrotask makes an AsyncResource, so one per batch, not one per
 * connection. Each connection is in the list at most once (its `flushScheduled`).
 */
let toFlush: Array<() => void> = [];
function flushSettled(): void {
  const batch = toFlush;
  toFlush = [];
  for (let i = 0; i < batch.length; i++) batch[i]!();
}
function scheduleFlush(flush: () => void): void {
  if (toFlush.push(flush) === 1) queueMicrotask(flushSettled);
}

/** A slot for an async reply, in request order. */
interface Slot {
  reply: Reply | undefined;
}

export class Connection {
  private readonly decoder: NetstringDecoder;
  private readonly splitter = new RequestSplitter();
  /** Replies ready to send, framed, not yet written. */
  private out = '';
  /** Payload bytes of `out`. */
  private outBytes = 0;
  /** Payload bytes of replies ready in `slots`, held behind an earlier one still at a backend. */
  private heldBytes = 0;
  /** Requests at a backend (unsettled slots). */
  private pending = 0;
  /** The socket's write buffer, looked up once per read: nothing is written while a read is decoded. */
  private socketQueued = 0;
  /** What one more request may add at most: the longest reply and its netstring wrapper. */
  private readonly replyRoom: number;
  /** The bound, never below one reply (`replyRoom`), so that a connection always makes progress. */
  private readonly bound: number;
  /** Answering stopped for the bound (or MAX_IN_FLIGHT); `rest` holds the bytes not yet decoded. */
  private stalled = false;
  private rest: Buffer | null = null;
  /** A frame completed since the last look; `lastProgress` is then brought up to date once per read. */
  private progressed = false;
  /**
   * When this connection last completed a request (or was accepted), in ms on the monotonic clock of
   * `performance.now()`: only compared with other connections' (eviction.ts).
   */
  lastProgress = performance.now();
  private deadline: NodeJS.Timeout | undefined;
  /** Unanswered async requests (and the sync ones queued behind them), oldest first. */
  private readonly slots: Slot[] = [];
  private slotHead = 0;
  private draining = false;
  private closing = false;
  private readPaused = false;
  private flushScheduled = false;
  /**
   * Fires `idleTimeout` after the connection was last active, or later: a read only notes its time in
   * `lastActive` (a timer's refresh per read cost 150 ns, more than the rest of a read's own work), and the
   * timer, when it fires early, is set again for the rest of the time.
   */
  private idleTimer: NodeJS.Timeout | undefined;
  /** When the client last sent something, or the last answer after an idle time with a lookup at a backend. */
  private lastActive = performance.now();
  /** The clock reading of the latest read decoded (feed). */
  private readAt = 0;
  /** The idle timer fired while a request was at a backend; the next reply restarts the idle time. */
  private idleWhileBusy = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerMs = LINGER_MS;
  /** The daemon's record of this connection (open-list.ts: no table keyed by connection). */
  openNode: OpenNode<Connection> | undefined;
  private isClosed = false;
  /** Made on first use of `finished`; most connections close without anyone waiting for them. */
  private finishedPromise: Promise<void> | undefined;
  private resolveFinished: (() => void) | undefined;

  /**
   * `sink`: the socket reads into the shared buffer (shared-read.ts) and hands its bytes there; without it
   * they come as 'data' events (inetd pipes, or a socket that could not be moved).
   */
  constructor(
    private readonly socket: Duplex,
    readonly info: ConnInfo,
    private readonly ctx: ConnectionContext,
    sink?: ChunkSink,
  ) {
    this.decoder = new NetstringDecoder(ctx.maxRequestSize);
    this.replyRoom = ctx.maxReplySize + String(ctx.maxReplySize).length + 2;
    this.bound = Math.max(ctx.maxReplyBuffer, this.replyRoom);
    deliverChunks(socket, sink, this.onChunk);
    socket.on('end', () => this.endGracefully());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
        ctx.log.warn({ peer: this.peer(), err: err.message }, 'connection error');
      }
    });
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.resume());
    if (ctx.idleTimeout > 0) {
      this.armIdle(ctx.idleTimeout);
    }
  }

  /**
   * Stop taking requests; close once the ones in flight are answered (graceful stop). Reading goes on, and
   * what arrives is dropped: the peer's own close must still be seen, and a socket reading into the shared
   * buffer sees nothing at all while paused. Once our side is ended, the peer has `lingerMs` to close its
   * own; 0 closes as soon as the last reply is handed to the kernel (the daemon's stop: a client such as
   * Sendmail reads nothing until its next lookup, and the stop should not wait for that).
   */
  endGracefully(lingerMs = LINGER_MS): void {
    if (lingerMs < this.lingerMs) {
      this.lingerMs = lingerMs;
      if (this.draining) this.armLinger();
    }
    if (this.closing) return;
    this.closing = true;
    this.maybeFinish();
  }

  /** Resolves when the connection is closed (graceful stop, a worker's hand-off, inetd). */
  get finished(): Promise<void> {
    if (this.finishedPromise === undefined) {
      this.finishedPromise = this.isClosed ? Promise.resolve() : new Promise((resolve) => (this.resolveFinished = resolve));
    }
    return this.finishedPromise;
  }

  /** Close at once (shutdown timeout expired). */
  destroy(): void {
    this.socket.destroy();
  }

  get inFlight(): number {
    return this.slots.length - this.slotHead;
  }

  /**
   * Nothing of this connection is at a backend: it is idle, its client is stalling (a request half sent,
   * replies not read), or it is closing and waits for the peer's close. When the connection table is full,
   * such a connection may be closed to make room (daemon.ts); the client, if it is a real one, reconnects
   * (Postfix retries once on EOF).
   */
  get evictable(): boolean {
    return this.pending === 0;
  }

  /** Close to make room for another client; counted and logged by the caller. */
  evict(): void {
    this.closing = true;
    this.socket.destroy();
  }

  /**
   * Whether one more request may be taken now without passing the bound: replies not yet taken by the client
   * (in bytes; those in the socket's buffer in characters), room for each request at a backend, and for one more.
   */
  private roomForAnother(): boolean {
    const unsent = this.outBytes + this.heldBytes + this.socketQueued;
    return this.inFlight < MAX_IN_FLIGHT && unsent + (this.pending + 1) * this.replyRoom <= this.bound;
  }

  private peer(): string {
    const i = this.info;
    return i.family === 'unix' ? `unix:${i.dst}` : i.family === 'inet6' ? `[${i.src}]:${i.srcPort}` : `${i.src}:${i.srcPort}`;
  }

  /** The bytes `chunk[0, length)` arrived; they are valid only during this call. */
  private readonly onChunk = (chunk: Buffer, length: number): void => {
    if (this.closing) return;
    if (this.stalled) {
      // Answering is stopped; a read that was under way when reading paused joins the kept bytes.
      this.lastActive = performance.now();
      const got = chunk.subarray(0, length);
      this.rest = this.rest === null ? Buffer.from(got) : Buffer.concat([this.rest, got]);
      return;
    }
    this.feed(chunk, length, false);
    this.lastActive = this.readAt;
    this.flush();
    // The kernel may have taken the whole batch at once: then there is room again, and no 'drain' to come.
    if (this.stalled) this.resume();
  };

  /**
   * Decode `chunk[0, n)` and answer its requests until the bound stops it; keep what is left (a copy, unless
   * `owned`: then the chunk is ours to keep). Arms or clears the request deadline.
   */
  private feed(chunk: Buffer, n: number, owned: boolean): void {
    let stop: number;
    this.socketQueued = this.socket.writableLength;
    // The read's clock reading: when it made progress, and the start of its lookups' time (latency.ts).
    const readAt = (this.readAt = lookupClock.startRead());
    try {
      stop = this.decoder.push(chunk, this.onFrame, n);
    } catch (err) {
      this.protocolError(err as Error);
      return;
    } finally {
      lookupClock.endRead();
    }
    if (this.progressed) {
      this.progressed = false;
      this.lastProgress = readAt;
    }
    if (this.stalled) {
      if (stop < n) this.rest = owned ? chunk.subarray(stop, n) : Buffer.from(chunk.subarray(stop, n));
      this.pauseReading();
    }
    this.updateDeadline();
  }

  /**
   * The deadline runs while the client owes us something: the rest of a request it started, or taking
   * replies that stop us answering. Not while a backend is slow: that is the database `timeout`'s job.
   */
  private updateDeadline(): void {
    if (!this.decoder.idle || (this.stalled && this.pending === 0)) this.armDeadline();
    else if (this.deadline !== undefined) this.clearDeadline();
  }

  /** One request; returns false when no more may be taken for now (the decoder then stops after it). */
  private readonly onFrame = (buf: Buffer, start: number, end: number): boolean => {
    if (this.closing) return true;
    this.ctx.stats.requests++;
    this.progressed = true;
    const req = this.splitter;
    if (!req.split(buf, start, end)) {
      this.answer(R.perm('malformed request: expected "MAP KEY"'), '', '');
      return this.takeMore();
    }
    const map = req.map;
    const key = req.key;
    let r: Reply | PromiseLike<Reply>;
    try {
      r = this.ctx.dispatch(map, key, this.info);
    } catch (err) {
      this.ctx.log.error({ err: (err as Error).message, map }, 'dispatch failed');
      r = R.temp('internal error');
    }
    if (typeof r === 'string') {
      this.answer(r, map, key);
    } else {
      const slot: Slot = { reply: undefined };
      this.slots.push(slot);
      this.pending++;
      const onReply = (reply: Reply): void => this.settle(slot, reply, map, key);
      const onError = (err: unknown): void => {
        this.ctx.log.error({ err: (err as Error).message, map }, 'dispatch failed');
        this.settle(slot, R.temp('internal error'), map, key);
      };
      // The database handle's Deferred calls back without a promise (modules/deferred.ts).
      if (r instanceof Deferred) r.whenSettled(onReply, onError);
      else r.then(onReply, onError);
    }
    return this.takeMore();
  };

  private takeMore(): boolean {
    if (this.roomForAnother()) return true;
    if (!this.stalled) {
      this.stalled = true;
      this.ctx.stats.connectionsStalled++;
    }
    return false;
  }

  /** Queue a ready reply: straight into the batch if nothing is waiting ahead of it. */
  private answer(reply: Reply, map: string, key: string): void {
    if (this.slotHead < this.slots.length) {
      const r = this.finish(reply, map, key);
      this.heldBytes += textByteLength(r);
      this.slots.push({ reply: r });
    } else {
      this.emit(this.finish(reply, map, key));
    }
  }

  private settle(slot: Slot, reply: Reply, map: string, key: string): void {
    const r = this.finish(typeof reply === 'string' ? reply : R.temp('internal error'), map, key);
    this.pending--;
    let moved = false;
    if (this.slots[this.slotHead] === slot) {
      // The oldest request in flight (at one request in flight, every one): its reply joins the batch at once,
      // without being counted as held first, which would measure its bytes twice (textByteLength, then emit).
      this.emit(r);
      this.slots[this.slotHead++] = undefined as unknown as Slot;
      moved = true;
    } else {
      slot.reply = r;
      this.heldBytes += textByteLength(r);
    }
    while (this.slotHead < this.slots.length && this.slots[this.slotHead]!.reply !== undefined) {
      const ready = this.slots[this.slotHead]!.reply!;
      this.heldBytes -= this.emit(ready);
      this.slots[this.slotHead++] = undefined as unknown as Slot;
      moved = true;
    }
    if (this.slotHead === this.slots.length) {
      this.slots.length = 0;
      this.slotHead = 0;
    }
    if (moved && !this.flushScheduled) {
      // Coalesce replies that resolve in the same turn into one write.
      this.flushScheduled = true;
      scheduleFlush(this.flushLater);
    }
  }

  private readonly flushLater = (): void => {
    this.flushScheduled = false;
    this.flush();
    this.resume();
    this.maybeFinish();
  };

  /** Enforce the reply size cap, count and trace. */
  private finish(reply: Reply, map: string, key: string): Reply {
    if (reply.length * 3 > this.ctx.maxReplySize && textByteLength(reply) > this.ctx.maxReplySize) {
      this.ctx.stats.oversizeReplies++;
      this.ctx.log.error(
        { map, key, bytes: textByteLength(reply), limit: this.ctx.maxReplySize },
        'reply too long; sent PERM instead',
      );
      reply = R.perm(`reply too long (limit ${this.ctx.maxReplySize} bytes)`);
    }
    countReply(this.ctx.stats, reply);
    if (this.ctx.trace !== undefined) this.ctx.trace(map, key, reply, this.info);
    if (this.ctx.queryLog !== undefined) this.ctx.queryLog.debug({ map, key, reply, peer: this.peer() }, 'query');
    return reply;
  }

  /** Add a reply to the batch; returns its payload length in bytes. */
  private emit(reply: Reply): number {
    const bytes = Buffer.byteLength(reply, 'utf8');
    // A reply holding a key's raw bytes (bytes.ts) cannot travel as UTF-8 text: it goes as bytes, in order.
    // Such a reply has more UTF-8 bytes than characters (3 per escape), so a pure ASCII one is not looked at.
    if (bytes !== reply.length && hasRawBytes(reply)) return this.emitBytes(reply);
    this.out += bytes + ':' + reply + ',';
    this.outBytes += bytes;
    return bytes;
  }

  /** Send the batch so far, then this reply as its bytes; the socket's queue counts it against the bound. */
  private emitBytes(reply: Reply): number {
    this.flush();
    const frame = netstringOfBytes(reply);
    if (this.socket.writable && !this.socket.write(frame)) this.pauseReading();
    return frame.length;
  }

  private flush(): void {
    if (this.out === '') return;
    if (this.idleWhileBusy) {
      this.idleWhileBusy = false;
      this.lastActive = performance.now();
    }
    const data = this.out;
    this.out = '';
    this.outBytes = 0;
    if (!this.socket.writable) return;
    if (!this.socket.write(data, 'utf8')) this.pauseReading();
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  /**
   * The client took replies, a backend answered, or a batch went straight into the kernel: answer what is
   * kept, then read again, as room allows. Each round answers at least one request or ends.
   */
  private resume(): void {
    if (this.closing) return;
    while (this.stalled) {
      this.socketQueued = this.socket.writableLength;
      if (!this.roomForAnother()) {
        this.updateDeadline();
        return;
      }
      this.stalled = false;
      this.ctx.stats.connectionsStalled--;
      const rest = this.rest;
      this.rest = null;
      if (rest !== null) this.feed(rest, rest.length, true);
      else this.updateDeadline();
      this.flush();
      if (this.closing) return;
    }
    if (!this.readPaused) return;
    if ((this.socket as Duplex & { writableNeedDrain?: boolean }).writableNeedDrain) return;
    this.readPaused = false;
    this.socket.resume();
  }

  /** Start the request deadline unless it runs already: it is not pushed back by bytes that trickle in. */
  private armDeadline(): void {
    if (this.deadline !== undefined || this.ctx.requestTimeout <= 0) return;
    this.deadline = setTimeout(this.onDeadline, this.ctx.requestTimeout);
    this.deadline.unref();
  }

  private clearDeadline(): void {
    clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  private readonly onDeadline = (): void => {
    this.deadline = undefined;
    if (this.closing) return;
    this.ctx.stats.requestTimeouts++;
    const why = this.decoder.idle ? 'replies not read' : 'request not completed';
    this.ctx.timeoutLog.note({ peer: this.peer(), server: this.info.serverId, reason: why, timeout: this.ctx.requestTimeout });
    // The client holds the connection without making progress; nothing it could still be sent would help.
    this.closing = true;
    this.socket.destroy();
  };

  private protocolError(err: Error): void {
    this.ctx.stats.protocolErrors++;
    const tooLarge = err instanceof RequestTooLargeError;
    this.ctx.log.warn({ peer: this.peer(), err: err.message }, tooLarge ? 'request too large' : 'protocol error');
    const reason = tooLarge ? err.message : err instanceof ProtocolError ? `protocol error: ${err.message}` : 'protocol error';
    // The client's stream is out of step now; answer what came before, say why, and close.
    this.answer(R.perm(reason), '', '');
    this.endGracefully();
  }

  private maybeFinish(): void {
    if (!this.closing || this.inFlight > 0 || this.draining) return;
    this.draining = true;
    this.flush();
    this.socket.end();
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    this.armLinger();
  }

  /** A peer that does not close its side after ours does not get to keep the socket. */
  private armLinger(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    if (this.lingerMs > 0) {
      this.lingerTimer = setTimeout(() => this.socket.destroy(), this.lingerMs);
      this.lingerTimer.unref();
    } else if ((this.socket as Duplex & { writableFinished?: boolean }).writableFinished) {
      this.socket.destroy();
    } else {
      this.socket.once('finish', () => this.socket.destroy());
    }
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(this.onIdle, ms);
    this.idleTimer.unref();
  }

  private readonly onIdle = (): void => {
    const timeout = this.ctx.idleTimeout;
    const idleFor = performance.now() - this.lastActive;
    if (idleFor < timeout) {
      this.armIdle(timeout - idleFor);
      return;
    }
    if (this.inFlight > 0) {
      // Idleness is counted from the last answer: a lookup slower than the timeout must not leave the
      // connection only what remains of the timer once it is answered.
      this.idleWhileBusy = true;
      this.lastActive = performance.now();
      this.armIdle(timeout);
      return;
    }
    this.ctx.log.debug({ peer: this.peer() }, 'idle timeout');
    this.endGracefully();
  };

  private onClose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.clearDeadline();
    this.rest = null;
    if (this.stalled) {
      this.stalled = false;
      this.ctx.stats.connectionsStalled--;
    }
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.closing = true;
    this.isClosed = true;
    this.ctx.closed?.(this);
    this.resolveFinished?.();
  }
}
