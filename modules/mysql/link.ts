/**
 * One connection to a MySQL/MariaDB server, made for lookups. Each query text is prepared once
 * (COM_STMT_PREPARE); each lookup is then one COM_STMT_EXECUTE with the key bound as a parameter. The server
 * reads a connection's commands in order and answers them in order, so executes are sent without waiting for
 * the replies before them (pipelining), and the executes asked in one event-loop turn leave in one write.
 *
 * An ERR packet answers one command and fails that lookup only. A lost connection fails every lookup in
 * flight on it (LinkError): the lookup code decides which to retry elsewhere.
 *
 * It replaces mysql2 on this path because mysql2 runs one command at a time per connection, so every lookup
 * paid its own socket write and read, besides a command object, a packet object and a row parser's objects.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { BackendError, errorDetail, Fifo } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { CAP, Login, type LoginStep } from './handshake.js';
import { closeFrame, executeFrame, PING_FRAME, prepareFrame, QUIT_FRAME } from './commands.js';
import { framePacket, MysqlServerError, PacketDecoder, PayloadReader, readError } from './packets.js';
import { ResultReader, type ColumnCache } from './results.js';
import type { ConnectionSettings } from './settings.js';

/** The connection failed or was lost: every lookup in flight on it fails with this. */
export class LinkError extends BackendError {
  constructor(
    message: string,
    /** Why, without the server's name (the socket error, the server's refusal). */
    readonly reason: string,
    /** Dropped because another lookup on it timed out: the lookups behind it did nothing wrong. */
    readonly abandoned = false,
  ) {
    super(message);
  }
}

/**
 * A lookup's answer: the first row of the first result set (null when it has no row), or the error. It
 * returns true when the lookup, failed with its lost connection, was sent again elsewhere (counted for the
 * connection's log line).
 */
export type RowCallback = (err: Error | null, row: ResultRow | null) => boolean | void;

/** A connection with lookups in flight that has answered none for this long is busy with a slow query. */
export const STALL_MS = 20;

/**
 * Prepared statements a connection keeps. A database's connections run its one query, but they outlive
 * reloads (pools.ts), and a reload that changes the query would otherwise leave one more statement on the
 * server per connection each time (the server's `max_prepared_stmt_count` is shared by every client).
 */
export const MAX_STATEMENTS = 16;

/** ER_UNKNOWN_STMT_HANDLER: the server no longer knows the statement (it is prepared again next time). */
const ER_UNKNOWN_STMT_HANDLER = 1243;

const enum Kind {
  Execute,
  Prepare,
  Ping,
}

/** A prepared statement of this connection. */
interface Statement {
  readonly sql: string;
  id: number;
  /** Executes asked while the statement is being prepared; sent when it is. */
  waiting: Command[] | null;
  readonly columns: ColumnCache;
}

/** A command sent (or waiting to be), and what to do with its answer. */
class Command {
  constructor(
    readonly kind: Kind,
    readonly statement: Statement,
    readonly values: readonly (string | Buffer)[],
    public callback: RowCallback | null,
  ) {}
}

const NO_STATEMENT: Statement = { sql: '', id: 0, waiting: null, columns: [] };

export type LinkStatus = 'connecting' | 'ready' | 'closed';

export class MysqlLink {
  private status_: LinkStatus = 'connecting';
  private socket: net.Socket;
  private readonly decoder = new PacketDecoder();
  private readonly login: Login;
  private readonly sent = new Fifo<Command>();
  private readonly statements = new Map<string, Statement>();
  private out: Buffer[] = [];
  private flushScheduled = false;
  private lastError = '';
  /** Lookups accepted and not yet answered (sent, or waiting for their statement or the login). */
  private load_ = 0;
  /** Whether a prepare or an execute was answered: a failure on a connection that has not is no reason to retry. */
  private answered_ = false;
  /** When the connection last answered a lookup, or got one while it had none in flight. */
  private progressAt = 0;

  private readonly results = new ResultReader();
  /** Packets of a prepare's reply still to skip (parameter and column definitions, which executes send again). */
  private skipLeft = 0;
  private connectTimer: NodeJS.Timeout | null;
  /** quit() was called: the close that follows is no loss worth a warning. */
  private quitting = false;

  constructor(
    private readonly s: ConnectionSettings,
    private readonly ca: string | undefined,
    private readonly log: Logger,
    readonly server: string,
    private readonly onClosed: (link: MysqlLink) => void,
  ) {
    this.login = new Login({ user: s.user, password: s.password, database: s.database, tls: ca !== undefined, socket: s.socketPath !== undefined });
    this.socket = s.socketPath !== undefined ? net.connect({ path: s.socketPath }) : net.connect({ host: s.host, port: s.port });
    this.connectTimer = setTimeout(() => this.fail(`no connection within ${s.connectTimeoutMs} ms`), s.connectTimeoutMs);
    this.watch(this.socket);
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, 10_000);
  }

  get status(): LinkStatus {
    return this.status_;
  }

  /** The server's id of this connection, for KILL (0 until the greeting is read). */
  get threadId(): number {
    return this.login.threadId;
  }

  get load(): number {
    return this.load_;
  }

  /** Whether lookups are in flight and none was answered for STALL_MS (`now`: Date.now()). */
  stalled(now: number): boolean {
    return this.load_ > 0 && now - this.progressAt > STALL_MS;
  }

  get hasAnswered(): boolean {
    return this.answered_;
  }

  /** Run the statement `sql` with `values` bound; `callback` gets the first row (or null), or the error. */
  execute(sql: string, values: readonly (string | Buffer)[], callback: RowCallback): void {
    if (this.status_ === 'closed') {
      callback(this.closedError(), null);
      return;
    }
    if (this.load_++ === 0) this.progressAt = Date.now();
    let st = this.statements.get(sql);
    if (st === undefined) {
      if (this.statements.size >= MAX_STATEMENTS) this.closeOldStatements();
      st = { sql, id: 0, waiting: [], columns: [] };
      this.statements.set(sql, st);
      this.send(new Command(Kind.Prepare, st, [], null), prepareFrame(sql));
    }
    const cmd = new Command(Kind.Execute, st, values, callback);
    if (st.waiting !== null) st.waiting.push(cmd);
    else this.send(cmd, executeFrame(st.id, values));
  }

  /**
   * Close the statements prepared longest ago (a Map keeps insertion order) until there is room for one more;
   * a statement whose preparation is still unanswered stays. The server reads commands in order, so the
   * executes of a closed statement already sent run before the close; later lookups of its query prepare it
   * again. COM_STMT_CLOSE has no reply: it takes no place among the commands in flight.
   */
  private closeOldStatements(): void {
    for (const old of this.statements.values()) {
      if (this.statements.size < MAX_STATEMENTS) return;
      if (old.waiting !== null) continue;
      this.statements.delete(old.sql);
      this.out.push(closeFrame(old.id));
    }
  }

  /** COM_PING: `callback` gets null when the server answered. */
  ping(callback: (err: Error | null) => void): void {
    if (this.status_ === 'closed') return callback(this.closedError());
    this.send(new Command(Kind.Ping, NO_STATEMENT, [], (err) => callback(err)), PING_FRAME);
  }

  /** Say goodbye (COM_QUIT) after the commands in flight; resolves when the connection is closed. */
  quit(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.quitting = true;
    if (this.status_ !== 'ready') {
      this.socket.destroy();
      return closed;
    }
    this.out.push(QUIT_FRAME);
    this.flush();
    this.socket.end();
    return closed;
  }

  /** Close at once: the commands in flight fail with `why`. */
  destroy(why: string, abandoned = false): void {
    this.fail(why, abandoned);
  }

  private closedError(): LinkError {
    const why = this.lastError || 'closed';
    return new LinkError(`no connection to MySQL at ${this.server}: ${why}`, why);
  }

  private stopConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private send(cmd: Command, frame: Buffer): void {
    this.sent.push(cmd);
    this.out.push(frame);
    if (!this.flushScheduled && this.status_ === 'ready') {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.status_ !== 'ready') return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    this.socket.write(data);
  };

  private watch(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err) => {
      if (this.lastError === '') this.lastError = errorDetail(err);
    });
    socket.on('close', () => {
      if (socket === this.socket) this.fail(this.lastError || 'the server closed the connection');
    });
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket || this.status_ === 'closed') return;
    try {
      this.decoder.push(chunk, this.status_ === 'ready' ? this.onReply : this.onLogin);
    } catch (err) {
      // The replies no longer match the commands: nothing more read from this connection can be trusted.
      this.fail(errorDetail(err));
    }
  }

  private readonly onLogin = (buf: Buffer, start: number, end: number): void => {
    if (this.status_ === 'ready') return this.onReply(buf, start, end);
    // The packet's sequence id is in the header just before the payload.
    const step = this.login.onPacket(buf, start, end, buf[start - 1] ?? 0);
    this.loginStep(step);
  };

  private loginStep(step: LoginStep): void {
    if (step.kind === 'wait') return;
    if (step.kind === 'send') {
      this.socket.write(framePacket(step.payload, step.seq));
      return;
    }
    if (step.kind === 'tls-then-send') {
      this.socket.write(framePacket(step.ssl, step.seq));
      this.startTls(framePacket(step.payload, step.seq + 1));
      return;
    }
    this.results.deprecateEof = (this.login.agreed & CAP.DEPRECATE_EOF) !== 0;
    this.status_ = 'ready';
    this.stopConnectTimer();
    this.flush();
  }

  /** Go on over TLS on the same TCP connection, verifying the server certificate against ssl-ca. */
  private startTls(response: Buffer): void {
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const host = this.s.host ?? 'localhost';
    const secure = tls.connect({ socket: plain, ca: this.ca, host, ...(net.isIP(host) === 0 ? { servername: host } : {}), rejectUnauthorized: true });
    this.socket = secure;
    this.watch(secure);
    secure.once('secureConnect', () => secure.write(response));
  }

  /** A packet of the reply to the oldest command. */
  private readonly onReply = (buf: Buffer, start: number, end: number): void => {
    const cmd = this.sent.at(0);
    if (cmd === undefined) {
      // The server speaks unasked only to say why it is closing (a KILL, wait_timeout).
      throw new BackendError(buf[start] === 0xff ? readError(buf, start, end).message : 'MySQL sent a packet nobody asked for');
    }
    if (cmd.kind === Kind.Execute) {
      if (this.results.push(cmd.statement.columns, buf, start, end)) this.executed(cmd);
      return;
    }
    if (this.skipLeft > 0) {
      if (--this.skipLeft === 0) this.done(cmd, null);
      return;
    }
    if (buf[start] === 0xff) return this.done(cmd, readError(buf, start, end));
    if (cmd.kind === Kind.Prepare) return this.prepared(cmd, buf, start, end);
    this.done(cmd, null);
  };

  /** COM_STMT_PREPARE_OK: the statement id, then definitions to skip; the executes waiting for it go out. */
  private prepared(cmd: Command, buf: Buffer, start: number, end: number): void {
    const r = new PayloadReader(buf, start + 1, end);
    const st = cmd.statement;
    st.id = r.u32();
    const columns = r.u16();
    const params = r.u16();
    const eof = this.results.deprecateEof ? 0 : 1;
    this.skipLeft = (params > 0 ? params + eof : 0) + (columns > 0 ? columns + eof : 0);
    const waiting = st.waiting ?? [];
    st.waiting = null;
    for (const w of waiting) this.send(w, executeFrame(st.id, w.values));
    if (this.skipLeft === 0) this.done(cmd, null);
  }

  /** The reply to the oldest command, a prepare or a ping, is complete. */
  private done(cmd: Command, err: Error | null): void {
    this.sent.shift();
    if (cmd.kind === Kind.Ping) {
      cmd.callback?.(err, null);
      return;
    }
    this.answered_ = true;
    if (err !== null) this.unprepared(cmd.statement, err);
  }

  /** The reply to the oldest command, an execute, is complete: its lookup gets the row or the error. */
  private executed(cmd: Command): void {
    this.sent.shift();
    this.answered_ = true;
    this.load_--;
    this.progressAt = Date.now();
    const { err, row } = this.results.take();
    if (err instanceof MysqlServerError && err.errno === ER_UNKNOWN_STMT_HANDLER && this.statements.get(cmd.statement.sql) === cmd.statement) {
      this.statements.delete(cmd.statement.sql);
    }
    const callback = cmd.callback;
    cmd.callback = null;
    callback?.(err, row);
  }

  /** The prepare failed (an SQL error): its executes fail with it, and the next lookup prepares again. */
  private unprepared(st: Statement, err: Error): void {
    if (this.statements.get(st.sql) === st) this.statements.delete(st.sql);
    const waiting = st.waiting ?? [];
    st.waiting = null;
    for (const w of waiting) {
      this.load_--;
      const callback = w.callback;
      w.callback = null;
      callback?.(err, null);
    }
  }

  /** Close, and fail everything in flight or waiting. */
  private fail(why: string, abandoned = false): void {
    if (this.status_ === 'closed') return;
    const wasReady = this.status_ === 'ready';
    this.status_ = 'closed';
    if (this.lastError === '') this.lastError = why;
    this.socket.destroy();
    this.stopConnectTimer();
    if (wasReady && !abandoned && !this.quitting && this.load_ === 0) this.log.warn({ server: this.server, thread: this.threadId, err: why }, 'mysql connection lost');
    const err = new LinkError(`${wasReady ? 'lost the connection' : 'no connection'} to MySQL at ${this.server}: ${why}`, why, abandoned);
    const victims: Command[] = this.sent.takeAll();
    for (const st of this.statements.values()) victims.push(...(st.waiting ?? []));
    this.statements.clear();
    this.out = [];
    this.load_ = 0;
    // Out of the pool first: a victim retried from its callback must not be handed this closed connection.
    this.onClosed(this);
    let retried = 0;
    for (const cmd of victims) {
      const callback = cmd.callback;
      cmd.callback = null;
      if (callback?.(err, null) === true) retried++;
    }
    // One line per connection, not per lookup. None for a connection dropped on purpose (a lookup on it timed
    // out, or the database is closing): its lookups were fine, and the timeout is logged on its own.
    if (retried > 0 && !abandoned && !this.quitting) {
      this.log.info({ server: this.server, err: why, lookups: retried }, 'stale mysql connection; retrying its lookups on another');
    }
  }
}
