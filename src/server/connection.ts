/**
 * One client connection: decode requests, dispatch each, and write replies back in request order. Replies
 * that are ready at once are batched into one `write` per incoming chunk; an async reply holds back the
 * ones behind it until it resolves. A flood of pipelined requests is bounded: past `MAX_IN_FLIGHT`
 * unanswered requests, or while the socket's write buffer is full, reading pauses.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ConnInfo } from '../modules/api.js';
import { NetstringDecoder } from '../protocol/netstring.js';
import * as R from '../protocol/reply.js';
import type { Reply } from '../protocol/reply.js';
import { RequestSplitter } from '../protocol/request.js';
import { ProtocolError, RequestTooLargeError } from '../errors.js';
import { deliverChunks, type ChunkSink } from './shared-read.js';
import { countReply, type ServerStats } from './stats.js';

/** What a connection needs from the daemon; `dispatch` is fixed at accept so a reload leaves it on its config. */
export interface ConnectionContext {
  dispatch(map: string, key: string, conn: ConnInfo): Reply | Promise<Reply>;
  readonly maxRequestSize: number;
  readonly maxReplySize: number;
  /** ms; 0 = never. */
  readonly idleTimeout: number;
  readonly log: Logger;
  readonly stats: ServerStats;
  /** Called for each answered request when tracing is on. */
  readonly trace: ((map: string, key: string, reply: Reply, conn: ConnInfo) => void) | undefined;
  /** The `query` debug category's logger, when the debug spec turns it on. */
  readonly queryLog: Logger | undefined;
}

const MAX_IN_FLIGHT = 1024;
/** How long a connection we have ended waits for the peer to close its side before it is dropped. */
const LINGER_MS = 5000;

/** A slot for an async reply, in request order. */
interface Slot {
  reply: Reply | undefined;
}

export class Connection {
  private readonly decoder: NetstringDecoder;
  private readonly splitter = new RequestSplitter();
  /** Replies ready to send, framed, not yet written. */
  private out = '';
  /** Unanswered async requests (and the sync ones queued behind them), oldest first. */
  private readonly slots: Slot[] = [];
  private slotHead = 0;
  private draining = false;
  private closing = false;
  private readPaused = false;
  private flushScheduled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The idle timer fired while a request was at a backend; the next reply restarts the idle time. */
  private idleWhileBusy = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerMs = LINGER_MS;
  private done!: () => void;
  /** Resolves when the connection is closed, for the daemon's bookkeeping and graceful stop. */
  readonly finished: Promise<void>;

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
    this.finished = new Promise((resolve) => (this.done = resolve));
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
      this.idleTimer = setTimeout(() => this.onIdle(), ctx.idleTimeout);
      this.idleTimer.unref();
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

  /** Close at once (shutdown timeout expired). */
  destroy(): void {
    this.socket.destroy();
  }

  get inFlight(): number {
    return this.slots.length - this.slotHead;
  }

  private peer(): string {
    const i = this.info;
    return i.family === 'unix' ? `unix:${i.dst}` : i.family === 'inet6' ? `[${i.src}]:${i.srcPort}` : `${i.src}:${i.srcPort}`;
  }

  /** The bytes `chunk[0, length)` arrived; they are valid only during this call. */
  private readonly onChunk = (chunk: Buffer, length: number): void => {
    if (this.closing) return;
    this.idleTimer?.refresh();
    try {
      this.decoder.push(chunk, this.onFrame, length);
    } catch (err) {
      this.protocolError(err as Error);
    }
    this.flush();
    if (this.inFlight >= MAX_IN_FLIGHT && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  };

  private readonly onFrame = (buf: Buffer, start: number, end: number): void => {
    if (this.closing) return;
    this.ctx.stats.requests++;
    const req = this.splitter;
    if (!req.split(buf, start, end)) {
      this.answer(R.perm('malformed request: expected "MAP KEY"'), '', '');
      return;
    }
    const map = req.map;
    const key = req.key;
    let r: Reply | Promise<Reply>;
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
      r.then(
        (reply) => this.settle(slot, reply, map, key),
        (err) => {
          this.ctx.log.error({ err: (err as Error).message, map }, 'dispatch failed');
          this.settle(slot, R.temp('internal error'), map, key);
        },
      );
    }
  };

  /** Queue a ready reply: straight into the batch if nothing is waiting ahead of it. */
  private answer(reply: Reply, map: string, key: string): void {
    if (this.slotHead < this.slots.length) {
      this.slots.push({ reply: this.finish(reply, map, key) });
    } else {
      this.emit(this.finish(reply, map, key));
    }
  }

  private settle(slot: Slot, reply: Reply, map: string, key: string): void {
    slot.reply = this.finish(typeof reply === 'string' ? reply : R.temp('internal error'), map, key);
    let moved = false;
    while (this.slotHead < this.slots.length && this.slots[this.slotHead]!.reply !== undefined) {
      this.emit(this.slots[this.slotHead]!.reply!);
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
      queueMicrotask(this.flushLater);
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
    if (reply.length * 3 > this.ctx.maxReplySize && Buffer.byteLength(reply, 'utf8') > this.ctx.maxReplySize) {
      this.ctx.stats.oversizeReplies++;
      this.ctx.log.error(
        { map, key, bytes: Buffer.byteLength(reply, 'utf8'), limit: this.ctx.maxReplySize },
        'reply too long; sent PERM instead',
      );
      reply = R.perm(`reply too long (limit ${this.ctx.maxReplySize} bytes)`);
    }
    countReply(this.ctx.stats, reply);
    if (this.ctx.trace !== undefined) this.ctx.trace(map, key, reply, this.info);
    if (this.ctx.queryLog !== undefined) this.ctx.queryLog.debug({ map, key, reply, peer: this.peer() }, 'query');
    return reply;
  }

  private emit(reply: Reply): void {
    this.out += Buffer.byteLength(reply, 'utf8') + ':' + reply + ',';
  }

  private flush(): void {
    if (this.out === '') return;
    if (this.idleWhileBusy) {
      this.idleWhileBusy = false;
      this.idleTimer?.refresh();
    }
    const data = this.out;
    this.out = '';
    if (!this.socket.writable) return;
    if (!this.socket.write(data, 'utf8') && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (!this.readPaused || this.closing) return;
    if (this.inFlight >= MAX_IN_FLIGHT) return;
    if ((this.socket as Duplex & { writableNeedDrain?: boolean }).writableNeedDrain) return;
    this.readPaused = false;
    this.socket.resume();
  }

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

  private onIdle(): void {
    if (this.inFlight > 0) {
      // Idleness is counted from the last answer: a lookup slower than the timeout must not leave the
      // connection only what remains of the timer once it is answered.
      this.idleWhileBusy = true;
      this.idleTimer!.refresh();
      return;
    }
    this.ctx.log.debug({ peer: this.peer() }, 'idle timeout');
    this.endGracefully();
  }

  private onClose(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.closing = true;
    this.done();
  }
}
