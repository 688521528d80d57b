/**
 * A sockmap client: one persistent connection, requests pipelined, replies matched to requests in order.
 * smapc, the end-to-end tests and the benchmark all use it, so the hot path (query → write, data → decode →
 * resolve) does no per-request timer or regex work.
 */
import net from 'node:net';
import type { ListenUrl } from '../config/types.js';
import { parseListenUrl } from '../config/url.js';
import { ProtocolError, RequestTooLargeError } from '../errors.js';
import { encodeNetstring, encodeNetstringBuffer, NetstringDecoder } from '../protocol/netstring.js';
import { REPLY_SIZE_CEILING } from '../protocol/reply.js';
import { decodeBytes, hasRawBytes, netstringOfBytes } from '../protocol/bytes.js';
import { sharedReadBuffer } from '../protocol/read-buffer.js';
import { Fifo } from './fifo.js';
import { tell, tellError, type ReplyHandler } from './replies.js';
import {
  ConnectError,
  ConnectionClosedError,
  InvalidClientArgumentError,
  InvalidServerUrlError,
  MalformedReplyError,
  ReplyTimeoutError,
  ReplyTooLargeError,
} from './errors.js';

export type { ReplyHandler } from './replies.js';

/** A request as a netstring; text holding 8-bit bytes (bytes.ts) is sent as those bytes. */
function requestFrame(payload: string): string | Buffer {
  return hasRawBytes(payload) ? netstringOfBytes(payload) : encodeNetstring(payload);
}

/** Postfix's read timeout, so a client never gives up before the MTAs would. */
export const DEFAULT_TIMEOUT_MS = 100_000;

/** Sendmail's reply limit, the largest of the real clients. */
export const DEFAULT_MAX_REPLY_SIZE = REPLY_SIZE_CEILING;

export interface SmapClientOptions {
  /** `inet://HOST:PORT`, `inet://[V6]:PORT`, `inet6://[V6]:PORT`, `unix:///PATH`, `local:///PATH` or `/PATH`. */
  url: string;
  /** Connect timeout and per-request reply timeout in ms; default 100000. */
  timeoutMs?: number;
  /** Longest reply payload accepted, in bytes; default REPLY_SIZE_CEILING (1000000). */
  maxReplySize?: number;
  /** Local IP address to connect from (inet URLs only). */
  sourceAddress?: string;
  /**
   * How long requests are gathered into one write: `tick` (default) sends at the end of the current tick;
   * `turn` waits for the end of the event-loop turn, so that requests made while handling many sockets'
   * input (a server forwarding its clients' lookups) leave in one write instead of one each.
   */
  coalesce?: 'tick' | 'turn';
}

interface Pending {
  readonly handler: ReplyHandler;
  /** Date.now() value after which the request has timed out; -1 until its write is made (see `send`). */
  deadline: number;
}

/** Parse a server URL for connecting; port 0 is fine for a listener but not for a client. */
export function parseServerUrl(url: string): ListenUrl {
  let parsed: ListenUrl;
  try {
    parsed = parseListenUrl(url);
  } catch (err) {
    throw new InvalidServerUrlError(`invalid server URL: ${(err as Error).message}`, { cause: err });
  }
  if (parsed.kind !== 'unix' && parsed.port === 0) {
    throw new InvalidServerUrlError(`invalid server URL '${url}': port 0 cannot be connected to`);
  }
  return parsed;
}

function checkOptions(opts: SmapClientOptions): { timeoutMs: number; maxReplySize: number } {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidClientArgumentError(`timeout must be a positive number of milliseconds, not ${timeoutMs}`);
  }
  const maxReplySize = opts.maxReplySize ?? DEFAULT_MAX_REPLY_SIZE;
  if (!Number.isSafeInteger(maxReplySize) || maxReplySize <= 0) {
    throw new InvalidClientArgumentError(`maximum reply size must be a positive integer, not ${maxReplySize}`);
  }
  return { timeoutMs, maxReplySize };
}

function checkMap(map: string): void {
  // The server splits the request at the first space, so such a map name would silently become another query.
  if (map.length === 0) throw new InvalidClientArgumentError('map name is empty');
  if (map.includes(' ') || map.includes('\n')) {
    throw new InvalidClientArgumentError(`map name ${JSON.stringify(map)} contains a space or a newline`);
  }
}

/** Split a reply payload into its status word and the text after the first space (`NOTFOUND ` → value ''). */
export function parseReplyStatus(reply: string): { status: string; value: string } {
  const sp = reply.indexOf(' ');
  return sp < 0 ? { status: reply, value: '' } : { status: reply.slice(0, sp), value: reply.slice(sp + 1) };
}

export class SmapClient {
  /** Resolves once the connection is closed, by either side, for whatever reason; never rejects. */
  readonly closed: Promise<void>;
  /** The URL as given to connect(). */
  readonly url: string;

  private readonly queue = new Fifo<Pending>();
  private readonly decoder: NetstringDecoder;
  private timer: NodeJS.Timeout | null = null;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private failure: Error | undefined;
  private endReason = '';
  private markClosed!: () => void;
  /** Request text gathered in this tick (or turn), not yet handed to the socket. */
  private outText = '';
  private flushScheduled = false;
  /** Requests made by `send` whose deadline is not set yet (-1): set at the write, all made since the last one. */
  private unstamped = 0;
  private readonly flushOut = (): void => {
    this.flushScheduled = false;
    if (this.unstamped > 0) this.stampDeadlines();
    if (this.outText === '') return;
    const text = this.outText;
    this.outText = '';
    if (!this.socket.destroyed) this.socket.write(text);
  };

  private constructor(
    private readonly socket: net.Socket,
    url: string,
    private readonly timeoutMs: number,
    private readonly maxReplySize: number,
    private readonly coalesceTurn: boolean,
  ) {
    this.url = url;
    this.decoder = new NetstringDecoder(maxReplySize);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    socket.setNoDelay(true);
    socket.on('error', (err) => this.fail(new ConnectionClosedError(`connection lost: ${err.message}`, { cause: err })));
    socket.on('close', () => this.onClose());
  }

  /** Connect; rejects with InvalidServerUrlError, InvalidClientArgumentError or ConnectError. */
  static connect(opts: SmapClientOptions): Promise<SmapClient> {
    let url: ListenUrl;
    let limits: { timeoutMs: number; maxReplySize: number };
    try {
      url = parseServerUrl(opts.url);
      limits = checkOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    const src = opts.sourceAddress;
    if (src !== undefined) {
      if (net.isIP(src) === 0) {
        return Promise.reject(new InvalidClientArgumentError(`invalid source address '${src}': not an IP address`));
      }
      if (url.kind === 'unix') {
        return Promise.reject(new InvalidClientArgumentError('a source address applies only to inet URLs'));
      }
    }
    return new Promise((resolve, reject) => {
      // The client is made on 'connect', before a byte can arrive; reads go to it from then on.
      let client: SmapClient | undefined;
      const onread = {
        buffer: sharedReadBuffer(),
        callback: (n: number, buf: Uint8Array): boolean => {
          client?.onData(buf as Buffer, n);
          return true;
        },
      };
      const socket =
        url.kind === 'unix'
          ? net.connect({ path: url.path, onread })
          : net.connect({
              host: url.host,
              port: url.port,
              onread,
              ...(src !== undefined ? { localAddress: src, family: net.isIP(src) } : {}),
            });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectError(`cannot connect to ${opts.url}: no answer within ${limits.timeoutMs} ms`));
      }, limits.timeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(new ConnectError(`cannot connect to ${opts.url}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        client = new SmapClient(socket, opts.url, limits.timeoutMs, limits.maxReplySize, opts.coalesce === 'turn');
        resolve(client);
      });
    });
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.queue.length;
  }

  /** True while requests can be sent: not closing, not closed, and not given up after an error. */
  get isOpen(): boolean {
    return this.state === 'open' && this.failure === undefined;
  }

  /** Why the connection ended, if it ended on an error (timeout, bad reply, reset); undefined otherwise. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Look up KEY in MAP; resolves with the reply payload, e.g. `OK value` or `NOTFOUND `. */
  query(map: string, key: string): Promise<string> {
    try {
      checkMap(map);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.request(requestFrame(map + ' ' + key));
  }

  /**
   * Look up KEY in MAP and tell `handler` the reply payload: `query` without a promise, for code that answers
   * from a callback (a server forwarding lookups). Throws at once when the request cannot be sent
   * (InvalidClientArgumentError, ConnectionClosedError); otherwise `handler` hears once, later.
   */
  send(map: string, key: string, handler: ReplyHandler): void {
    checkMap(map);
    this.checkOpen();
    // The deadline is set when the write is made (flushOut), with one clock reading for the whole batch.
    this.push(handler, -1);
    this.unstamped++;
    // Framed from its parts: `map + ' ' + key` made first would be a string to flatten for the UTF-8 checks
    // and then copied again into the frame. The space keeps a surrogate pair from forming across the parts.
    if (map.isWellFormed() && key.isWellFormed()) {
      this.write(Buffer.byteLength(map, 'utf8') + 1 + Buffer.byteLength(key, 'utf8') + ':' + map + ' ' + key + ',');
    } else {
      this.write(netstringOfBytes(map + ' ' + key));
    }
  }

  /** Send one netstring with exactly this payload (for requests a well-behaved caller would not make). */
  queryRaw(payload: string | Buffer): Promise<string> {
    return this.request(typeof payload === 'string' ? encodeNetstring(payload) : encodeNetstringBuffer(payload));
  }

  /**
   * Send bytes as they are, expecting nothing. For protocol-abuse tests: a reply the server sends to them
   * must be claimed with expectReply(), or it counts as unsolicited and closes the connection.
   */
  writeRaw(bytes: Buffer | string): void {
    this.checkOpen();
    this.write(bytes);
  }

  /** Wait for the next reply without sending anything (it answers bytes sent with writeRaw()). */
  expectReply(): Promise<string> {
    try {
      this.checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue();
  }

  /** Send all requests in one write; the replies come back in request order. */
  pipeline(reqs: ReadonlyArray<readonly [string, string]>): Promise<string[]> {
    try {
      this.checkOpen();
      for (const [map] of reqs) checkMap(map);
    } catch (err) {
      return Promise.reject(err);
    }
    const frames = reqs.map(([map, key]) => requestFrame(map + ' ' + key));
    const replies = reqs.map(() => this.enqueue());
    this.write(frames.every((f) => typeof f === 'string') ? frames.join('') : Buffer.concat(frames.map((f) => Buffer.from(f))));
    return Promise.all(replies);
  }

  /**
   * Close the connection once the pending requests are answered (or time out). Later requests are refused.
   * Resolves when the socket is closed.
   */
  close(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      if (this.queue.length === 0) this.socket.destroy();
    }
    return this.closed;
  }

  private request(wire: string | Buffer): Promise<string> {
    try {
      this.checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const reply = this.enqueue();
    this.write(wire);
    return reply;
  }

  private checkOpen(): void {
    if (this.state === 'open') return;
    if (this.state === 'closing') throw new ConnectionClosedError(`connection to ${this.url} is closing`);
    throw new ConnectionClosedError(`connection to ${this.url} is closed: ${this.endReason}`);
  }

  private enqueue(): Promise<string> {
    return new Promise<string>((resolve, reject) => this.push({ resolve, reject }, Date.now() + this.timeoutMs));
  }

  private push(handler: ReplyHandler, deadline: number): void {
    this.queue.push({ handler, deadline });
    if (this.timer === null) this.armTimer(this.timeoutMs);
  }

  /**
   * The requests of the write being made time out `timeoutMs` from now: never before they have left. They
   * are among the newest, but a `query` made between two `send`s already has its deadline: skipped.
   */
  private stampDeadlines(): void {
    const deadline = Date.now() + this.timeoutMs;
    for (let i = this.queue.length - 1; i >= 0 && this.unstamped > 0; i--) {
      const p = this.queue.at(i)!;
      if (p.deadline >= 0) continue;
      p.deadline = deadline;
      this.unstamped--;
    }
    this.unstamped = 0;
  }

  private write(data: string | Buffer): void {
    // Requests made in the same tick (or turn) leave in one write of one string: cheaper for pipelines (no
    // stream chunk per request), no cost for a lone request. A request in bytes (a key that is not UTF-8)
    // goes after the text gathered before it, so the order on the wire is the order of the calls.
    if (typeof data !== 'string') {
      this.flushOut();
      this.socket.write(data);
      return;
    }
    this.outText += data;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (this.coalesceTurn) setImmediate(this.flushOut);
      else process.nextTick(this.flushOut);
    }
  }

  /**
   * One timer for the whole queue: the oldest request always has the earliest deadline, so the timer only
   * needs re-arming when it fires early (its request was answered meanwhile). It is unref'd because the
   * socket already keeps the process alive while a reply is awaited.
   */
  private armTimer(ms: number): void {
    this.timer = setTimeout(() => this.onTimer(), ms);
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = null;
    const head = this.queue.at(0);
    if (head === undefined) return;
    // -1: not written yet (its write is due in this tick or turn), so its time has not begun.
    const left = head.deadline < 0 ? this.timeoutMs : head.deadline - Date.now();
    if (left > 0) {
      this.armTimer(left);
      return;
    }
    // A late reply would be taken for the answer to the next request: the connection is useless now.
    const err = new ReplyTimeoutError(`no reply from ${this.url} within ${this.timeoutMs} ms`);
    this.queue.shift();
    tellError(head.handler, err);
    this.fail(err, new ConnectionClosedError(`connection closed: an earlier request got no reply within ${this.timeoutMs} ms`));
  }

  /** The bytes `chunk[0, n)` arrived; they are valid only during this call (the shared read buffer). */
  private onData(chunk: Buffer, n: number): void {
    if (this.state === 'closed') return;
    try {
      this.decoder.push(chunk, this.onFrame, n);
    } catch (err) {
      this.fail(this.replyError(err));
      return;
    }
    if (this.state === 'closing' && this.queue.length === 0) this.socket.destroy();
  }

  /** One reply: to the oldest request in flight. */
  private readonly onFrame = (buf: Buffer, start: number, end: number): void => {
    const p = this.queue.shift();
    if (p === undefined) {
      const text = buf.toString('utf8', start, Math.min(end, start + 80));
      throw new MalformedReplyError(`unsolicited reply from ${this.url}: ${JSON.stringify(text)}`);
    }
    // Decoded as smapd decodes requests (bytes.ts): 8-bit bytes in a reply stay exact, as lone surrogates.
    tell(p.handler, decodeBytes(buf, start, end));
  };

  private replyError(err: unknown): Error {
    if (err instanceof RequestTooLargeError) {
      return new ReplyTooLargeError(`reply from ${this.url} is longer than ${this.maxReplySize} bytes`, { cause: err });
    }
    if (err instanceof ProtocolError) {
      return new MalformedReplyError(`malformed reply from ${this.url}: ${err.message}`, { cause: err });
    }
    return err as Error;
  }

  /** Give up on the connection: every pending request fails with `rest` (default `err`), then it is destroyed. */
  private fail(err: Error, rest: Error = err): void {
    this.failure ??= err;
    this.rejectAll(rest);
    this.socket.destroy();
  }

  private rejectAll(err: Error): void {
    this.unstamped = 0;
    for (const p of this.queue.takeAll()) tellError(p.handler, err);
  }

  private onClose(): void {
    if (this.failure) this.endReason = this.failure.message;
    else this.endReason = this.state === 'open' ? 'the server closed it' : 'closed by the client';
    this.state = 'closed';
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length > 0) {
      this.rejectAll(
        this.failure
          ? new ConnectionClosedError(`connection closed: ${this.failure.message}`)
          : new ConnectionClosedError(`${this.url} closed the connection before replying`),
      );
    }
    this.markClosed();
  }
}
