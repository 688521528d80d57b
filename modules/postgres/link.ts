/**
 * One connection to one PostgreSQL server, made for lookups. The statement is parsed and described once per
 * connection (a named prepared statement; the description gives the column names); each lookup is then
 * Bind + Execute(1 row) + Sync, and many lookups are in flight at once (pipelined), answered in order. The
 * lookups asked in one event-loop turn leave in one write.
 *
 * Each lookup has a Sync of its own, so an error the server reports for one lookup ends at that Sync and
 * fails that lookup only. Connection-class errors (SQLSTATE 08, 57P) and socket errors fail every lookup on
 * the connection, which is then gone. A lookup past its deadline has its query cancelled on the server
 * (CancelRequest) and the connection dropped; the other lookups on it are tried again elsewhere.
 *
 * It replaces the `pg` driver on this path because that costs several times the CPU per lookup (a Query
 * object, a result object with parsers, one query in flight per connection).
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { BackendError, BackendTimeoutError, errorDetail, Fifo } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { dial, sendCancel } from './dial.js';
import { passwordFromFile } from './pgpass.js';
import { PgServerError, serverError } from './server-error.js';
import type { Endpoint, PostgresSettings } from './settings.js';
import { Startup, type StartupLink } from './startup.js';
import * as W from './wire.js';

/**
 * How long close() lets lookups in flight finish and the server answer the goodbye before the connection is
 * cut (a dead server never answers).
 */
const CLOSE_WAIT_MS = 2000;

/** A lookup as a connection sees it: its parameters, its deadline, and where its answer goes (once). */
export interface LinkLookup {
  readonly values: readonly string[];
  /** Date.now() past which it has timed out. */
  readonly deadline: number;
  answered(row: ResultRow | null): void;
  /** `retry`: the lookup did not run to an answer and may be tried again on another connection. */
  failed(err: Error, retry: boolean): void;
  /** Whether the lookup may leave a stuck connection for another (once; no retry used up). */
  mayMove(): boolean;
  /** It left: send it again on another connection. */
  moved(): void;
}

/** What a connection needs to know: where, who, and the one statement it runs. */
export interface LinkConfig {
  readonly endpoint: Endpoint;
  readonly settings: PostgresSettings;
  readonly tls: boolean;
  readonly plainIfNoTls: boolean;
  readonly statement: { readonly name: string; readonly sql: string };
  /** The lookups' timeout, for the message of a timed-out one. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /**
   * Whether a lookup asked now would go elsewhere than `from` (another connection, a new one, another
   * server): lookups leave a stuck connection only then, else they would be sent again to the same one.
   */
  elsewhere(from: Link): boolean;
}

/** The queue entry of the statement's preparation (its answer comes in order with the lookups'). */
const PREPARE = 'prepare';
type Entry = LinkLookup | typeof PREPARE;

/**
 * A connection whose oldest lookup has waited longer than this may be stuck on a slow query: no lookup is
 * pipelined onto it any more, and those already behind the stuck one are sent again on another connection
 * (lookups only read; the answers they get here are dropped).
 */
export const STALL_MS = 20;

/**
 * In place of a lookup sent again elsewhere: its answer here is read and dropped. It keeps the deadline: past
 * it, its query is cancelled and the connection dropped as for any other.
 */
class Moved implements LinkLookup {
  readonly values: readonly string[] = [];
  constructor(readonly deadline: number) {}
  answered(): void {}
  failed(): void {}
  mayMove(): boolean {
    return false;
  }
  moved(): void {}
}

/** Whether a queue entry is a lookup still waiting here for its answer. */
function waiting(e: Entry | undefined): e is LinkLookup {
  return e !== undefined && e !== PREPARE && !(e instanceof Moved);
}

export class Link implements StartupLink {
  private socket: net.Socket | null = null;
  private readonly reader = new W.MessageReader();
  private readonly out: W.LookupWriter;
  private flushScheduled = false;
  private readonly queue = new Fifo<Entry>();
  /** The first row and the error of the entry at the head of the queue, until its ReadyForQuery. */
  private headRow: (string | null)[] | null = null;
  private headError: PgServerError | null = null;
  private prepared: 'no' | 'sent' | 'yes' = 'no';
  private prepareError: PgServerError | null = null;
  private names: readonly string[] = [];
  private pid: number | null = null;
  private secret: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** When the timer fires. */
  private timerAt = 0;
  private answeredAny = false;
  private closing = false;
  private gone = false;
  /** The startup's progress, until the first ReadyForQuery. */
  private startup: Startup | null = null;
  /** When the queue last became empty (for closing connections idle too long). */
  idleSince = Date.now();
  /** When the lookup at the head of the queue became the one the server works on. */
  headSince = 0;
  /** Whether the last lookup answered took the server less than STALL_MS: the connection runs fast ones. */
  lastFast = false;
  /** Whether the connection is encrypted (false when sslmode=prefer met a server without TLS). */
  encrypted = false;
  /** Called once when the connection is gone, with the reason. */
  onGone: (why: string) => void = () => undefined;

  private constructor(private readonly cfg: LinkConfig) {
    this.out = new W.LookupWriter(cfg.statement.name);
  }

  /** Connect, log in and wait for the server to be ready, within connect_timeout (0: no limit). */
  static async open(cfg: LinkConfig): Promise<Link> {
    const link = new Link(cfg);
    const sockets: net.Socket[] = [];
    const limit = cfg.settings.connectTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      if (limit > 0) timer = setTimeout(() => reject(new BackendError(`no connection within ${limit} ms (connect_timeout)`)), limit);
    });
    try {
      await Promise.race([link.establish((s) => sockets.push(s)), late]);
      return link;
    } catch (err) {
      link.gone = true;
      for (const s of sockets) s.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lookups sent and not yet answered. */
  get inFlight(): number {
    return this.queue.length;
  }

  get usable(): boolean {
    return !this.gone && !this.closing;
  }

  /** Queue a lookup; it leaves with the rest of this turn's. */
  send(l: LinkLookup): void {
    if (this.gone) return l.failed(new BackendError(`no connection to PostgreSQL at ${this.cfg.endpoint.label} (lost)`), true);
    if (this.queue.length === 0) this.headSince = Date.now();
    if (this.prepared === 'no') {
      this.out.raw(W.prepareMessages(this.cfg.statement.name, this.cfg.statement.sql));
      this.queue.push(PREPARE);
      this.prepared = 'sent';
    }
    this.out.lookup(l.values);
    this.queue.push(l);
    // A lookup that waited for a connection may be due before the ones already here; one pipelined behind
    // another has the timer look for a stall.
    const due = this.queue.length > 1 ? Math.min(l.deadline, this.headSince + STALL_MS + 1) : l.deadline;
    if (this.timer === null || due < this.timerAt) this.armTimer(Math.max(due - Date.now(), 1));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Let the lookups in flight finish, say goodbye, and close; whatever is left after CLOSE_WAIT_MS (lookups,
   * or a server that does not hang up) is cut.
   */
  close(): Promise<void> {
    const socket = this.socket;
    if (socket === null || this.gone) return Promise.resolve();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (!this.closing) {
      this.closing = true;
      if (this.queue.length === 0) this.terminate();
      setTimeout(() => this.drop(`not closed ${CLOSE_WAIT_MS} ms after close`), CLOSE_WAIT_MS).unref();
    }
    return closed;
  }

  /** Cut the connection now; lookups in flight fail (and may be tried elsewhere). */
  drop(why: string): void {
    if (this.gone) return;
    this.lost(new BackendError(`connection to PostgreSQL at ${this.cfg.endpoint.label} dropped: ${why}`));
  }

  private terminate(): void {
    this.socket?.end(W.TERMINATE);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.out.empty) return;
    const batch = this.out.take();
    if (this.socket !== null && !this.gone) this.socket.write(batch);
  };

  private async establish(track: (s: net.Socket) => void): Promise<void> {
    const { endpoint: e, settings: st } = this.cfg;
    const { socket, encrypted } = await dial(e, st.ssl, this.cfg.tls, this.cfg.plainIfNoTls, track);
    this.socket = socket;
    this.encrypted = encrypted;
    const ready = new Promise<void>((resolve, reject) => {
      this.startup = new Startup(this, resolve, reject);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.lost(err));
    socket.on('close', () => this.lost(new BackendError('the server closed the connection')));
    socket.setKeepAlive(true, 10_000);
    const params: [string, string][] = [
      ['user', st.user],
      ['database', st.database],
      ['application_name', 'smapd'],
      ['client_encoding', 'UTF8'],
    ];
    if (st.options !== undefined) params.push(['options', st.options]);
    socket.write(W.startupMessage(params));
    socket.resume();
    await ready;
  }

  /** For the startup: write a message now. */
  write(bytes: Buffer): void {
    this.socket?.write(bytes);
  }

  /** For the startup: the password, from password= or the password file. */
  password(): string {
    const { endpoint: e, settings: st } = this.cfg;
    const pw = st.password ?? passwordFromFile(e, st.database, st.user);
    if (pw === undefined) throw new BackendError('the server asks for a password, and there is none (password= or ~/.pgpass)');
    return pw;
  }

  get user(): string {
    return this.cfg.settings.user;
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk, this.onMessage);
    } catch (err) {
      // The answers no longer match the lookups: nothing more read from this connection can be trusted.
      this.lost(new BackendError(`protocol error: ${errorDetail(err)}`));
    }
  }

  private readonly onMessage = (type: number, buf: Buffer, start: number, end: number): void => {
    if (this.gone) return;
    if (this.startup !== null) {
      if (type === 0x4b /* K: BackendKeyData */) {
        this.pid = buf.readInt32BE(start);
        this.secret = buf.readInt32BE(start + 4);
      } else if (type === 0x5a /* Z */) {
        this.startup.done();
        this.startup = null;
      } else this.startup.message(type, buf, start, end);
      return;
    }
    switch (type) {
      case 0x44 /* D: DataRow */:
        if (this.headRow === null) this.headRow = W.readDataRow(buf, start);
        return;
      case 0x5a /* Z: ReadyForQuery */:
        return this.settleHead();
      case 0x45 /* E: ErrorResponse */: {
        const err = serverError(buf, start, end);
        if (err.fatal || this.queue.length === 0) return this.lost(err);
        this.headError = err;
        return;
      }
      case 0x54 /* T: RowDescription */:
        this.names = W.readRowDescription(buf, start);
        return;
      case 0x4e /* N: NoticeResponse */:
        this.cfg.log.debug({ server: this.cfg.endpoint.label, notice: W.readFields(buf, start, end).get('M') }, 'postgres notice');
        return;
      // BindComplete, CommandComplete, PortalSuspended, EmptyQueryResponse, ParseComplete,
      // ParameterDescription, NoData, ParameterStatus, NotificationResponse: nothing to do.
      default:
        return;
    }
  };

  /** The entry at the head has all its answer: hand it on. */
  private settleHead(): void {
    const entry = this.queue.shift();
    const row = this.headRow;
    const err = this.headError;
    this.headRow = null;
    this.headError = null;
    if (entry === undefined) return this.lost(new BackendError('the server answered a lookup that was not asked'));
    const now = Date.now();
    this.lastFast = now - this.headSince <= STALL_MS;
    this.headSince = now;
    if (this.queue.length === 0) {
      this.idleSince = now;
      if (this.closing) this.terminate();
    }
    if (entry === PREPARE) {
      this.prepared = err === null ? 'yes' : 'no';
      this.prepareError = err;
      return;
    }
    if (err !== null) {
      // Lookups sent behind a failed preparation fail for want of the statement: the preparation's error says why.
      entry.failed(err.sqlState === '26000' && this.prepareError !== null ? this.prepareError : err, false);
      return;
    }
    this.answeredAny = true;
    entry.answered(row === null ? null : { names: this.names, values: row });
  }

  /** The connection is over: every lookup on it fails; those on a connection that answered before may retry. */
  private lost(err: Error): void {
    if (this.gone) return;
    this.gone = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.startup?.fail(err);
    this.startup = null;
    const retry = this.answeredAny;
    const entries = this.queue.takeAll();
    // Out of the pool first, so that a lookup tried again does not come back here.
    this.onGone(errorDetail(err));
    const lookups = entries.filter((e): e is LinkLookup => e !== PREPARE);
    // One line per connection, not per lookup: a pipeline may hold many.
    if (retry && lookups.length > 0) {
      this.cfg.log.info({ server: this.cfg.endpoint.label, err: errorDetail(err), lookups: lookups.length }, 'stale postgres connection; retrying its lookups on another');
    }
    for (const e of lookups) e.failed(err, retry);
  }

  private armTimer(ms: number): void {
    // A lookup moved off this connection may have armed it meanwhile (onTimer re-arms after moving).
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = Date.now() + ms;
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
  }

  /**
   * One timer per connection: it fires at the earliest deadline it knows of, and re-arms for the next. A
   * lookup past its deadline is failed, its query cancelled and the connection dropped; the others on it
   * are tried again on another connection.
   */
  private readonly onTimer = (): void => {
    this.timer = null;
    const now = Date.now();
    let next = Infinity;
    let expired = false;
    for (let i = 0; i < this.queue.length; i++) {
      const e = this.queue.at(i)!;
      if (e === PREPARE) continue;
      if (e.deadline <= now) expired = true;
      else next = Math.min(next, e.deadline);
    }
    if (!expired) {
      let behind = false;
      for (let i = 1; i < this.queue.length && !behind; i++) {
        const e = this.queue.at(i);
        behind = waiting(e) && e.mayMove();
      }
      if (behind && now - this.headSince > STALL_MS) {
        if (this.cfg.elsewhere(this)) this.moveBehindHead();
        // Nowhere else to go (every connection is stuck, and no other may be opened): they wait here; look
        // again in a while, as a connection may have come free by then.
        else next = Math.min(next, now + STALL_MS);
      } else if (behind) next = Math.min(next, this.headSince + STALL_MS + 1);
      if (next !== Infinity) this.armTimer(Math.max(next - now, 1));
      return;
    }
    this.gone = true;
    this.socket?.destroy();
    this.cancel();
    const late = new BackendTimeoutError(`no answer from PostgreSQL at ${this.cfg.endpoint.label} within ${this.cfg.timeoutMs} ms`);
    const dropped = new BackendError(`connection to PostgreSQL at ${this.cfg.endpoint.label} dropped after a timeout`);
    const entries = this.queue.takeAll();
    this.onGone('a lookup timed out');
    for (const e of entries) if (e !== PREPARE) e.deadline <= now ? e.failed(late, false) : e.failed(dropped, true);
  };

  /**
   * The head is stuck and another connection would take lookups: the lookups behind it go there, their
   * places here kept for the answers.
   */
  private moveBehindHead(): void {
    const all = this.queue.takeAll();
    const moving: LinkLookup[] = [];
    this.queue.push(all[0]!);
    for (let i = 1; i < all.length; i++) {
      const e = all[i]!;
      if (!waiting(e) || !e.mayMove()) {
        this.queue.push(e);
        continue;
      }
      this.queue.push(new Moved(e.deadline));
      moving.push(e);
    }
    if (moving.length > 0) this.cfg.log.debug({ server: this.cfg.endpoint.label, lookups: moving.length }, 'postgres connection stuck on a query; its pipelined lookups go elsewhere');
    for (const l of moving) l.moved();
  }

  /** Stop the query the server is running for this connection: closing the socket alone would leave it running. */
  private cancel(): void {
    const e = this.cfg.endpoint;
    const log = this.cfg.log;
    const pid = this.pid;
    if (pid === null || this.secret === null) return log.warn({ server: e.label }, 'cannot cancel the timed-out query: no backend key');
    sendCancel(e, pid, this.secret, this.cfg.settings.connectTimeoutMs || 5000).then(
      () => log.debug({ server: e.label, pid }, 'cancelled the timed-out query'),
      (err: unknown) => log.warn({ server: e.label, pid, err: errorDetail(err) }, 'cannot cancel the timed-out query'),
    );
  }
}
