/**
 * One connection to a MySQL/MariaDB server, made for lookups. Each query text is prepared once
 * (COM_STMT_PREPARE); each lookup is then one COM_STMT_EXECUTE with the key bound as a parameter. The server
 * reads a connection's commands in order and answers them in order, so executes are sent without waiting for
 * the replies before them (pipelining), and the executes asked in one event-loop turn leave in one write.
 *
 * An ERR packet answers one command and fails that lookup only. A lost connection fails every lookup in
 * flight on it (LinkError, `fatal`): the lookup code decides which to retry elsewhere.
 *
 * It replaces mysql2 on this path because mysql2 costs several times the CPU per lookup (a command object,
 * a packet object and a row parser's objects per execute) and runs one command at a time per connection.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { BackendError, errorDetail, Fifo } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { CAP, Login, type LoginStep } from './handshake.js';
import { endStatus, framePacket, lenencSize, MAX_PAYLOAD, MysqlServerError, PacketDecoder, PayloadReader, readError, SERVER_MORE_RESULTS_EXISTS, writeLenenc } from './packets.js';
import { readColumn, readRow, type Column } from './rows.js';
import type { ConnectionSettings } from './settings.js';

/** The connection failed or was lost: every lookup in flight on it fails with this. */
export class LinkError extends BackendError {
  readonly fatal = true;
  constructor(
    message: string,
    /** Dropped because another lookup on it timed out: the lookups behind it did nothing wrong. */
    readonly abandoned = false,
  ) {
    super(message);
  }
}

/** A lookup's answer: the first row of the first result set (null when it has no row), or the error. */
export type RowCallback = (err: Error | null, row: ResultRow | null) => void;

/** A connection with lookups in flight that has answered none for this long is busy with a slow query. */
export const STALL_MS = 20;

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
  /** Column definitions of its last result, with their packet bytes: a new result with equal bytes reuses them. */
  readonly columns: { raw: Buffer; column: Column }[];
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

/** How a reply to an execute is read: which packet comes next. */
const enum Phase {
  /** OK, ERR, or the column count of a result set. */
  Start,
  Columns,
  ColumnsEof,
  Rows,
  /** The rest of a prepare's reply: parameter and column definitions, which executes send again. */
  PrepareSkip,
}

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
  private deprecateEof = false;
  private lastError = '';
  /** Lookups accepted and not yet answered (sent, or waiting for their statement or the login). */
  private load_ = 0;
  /** Whether a prepare or an execute was answered: a failure on a connection that has not is no reason to retry. */
  private answered_ = false;
  /** When the connection last answered a lookup, or got one while it had none in flight. */
  private progressAt = 0;

  // The reply being read (one at a time: the oldest command's).
  private phase = Phase.Start;
  private columnsLeft = 0;
  private columns: Column[] = [];
  private firstSet = true;
  private row: ResultRow | null = null;
  private haveSet = false;
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
    if (this.status_ === 'closed') return callback(new LinkError(`no connection to MySQL at ${this.server}: ${this.lastError || 'closed'}`), null);
    if (this.load_++ === 0) this.progressAt = Date.now();
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = { sql, id: 0, waiting: [], columns: [] };
      this.statements.set(sql, st);
      this.send(new Command(Kind.Prepare, st, values, null), prepareFrame(sql));
    }
    const cmd = new Command(Kind.Execute, st, values, callback);
    if (st.waiting !== null) st.waiting.push(cmd);
    else this.send(cmd, executeFrame(st.id, values));
  }

  /** COM_PING: `callback` gets null when the server answered. */
  ping(callback: (err: Error | null) => void): void {
    if (this.status_ === 'closed') return callback(new LinkError(`no connection to MySQL at ${this.server}: ${this.lastError || 'closed'}`));
    this.send(new Command(Kind.Ping, NO_STATEMENT, [], (err) => callback(err)), framePacket(Buffer.from([0x0e]), 0));
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
    this.out.push(framePacket(Buffer.from([0x01]), 0));
    this.flush();
    this.socket.end();
    return closed;
  }

  /** Close at once: the commands in flight fail with `why`. */
  destroy(why: string, abandoned = false): void {
    this.fail(why, abandoned);
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
    this.deprecateEof = (this.login.agreed & CAP.DEPRECATE_EOF) !== 0;
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
      const why = buf[start] === 0xff ? readError(buf, start, end).message : 'MySQL sent a packet nobody asked for';
      throw new BackendError(why);
    }
    const first = buf[start]!;
    switch (this.phase) {
      case Phase.Start:
        if (first === 0xff) return this.done(cmd, readError(buf, start, end));
        if (cmd.kind === Kind.Prepare) return this.prepared(cmd, buf, start, end);
        if (first === 0x00) {
          if (cmd.kind !== Kind.Ping && endStatus(buf, start, end, false) & SERVER_MORE_RESULTS_EXISTS) return;
          return this.done(cmd, null);
        }
        this.columnsLeft = new PayloadReader(buf, start, end).lenenc();
        this.columns = [];
        this.phase = Phase.Columns;
        return;
      case Phase.Columns:
        if (this.firstSet) this.columns.push(this.column(cmd.statement, this.columns.length, buf, start, end));
        if (--this.columnsLeft === 0) this.phase = this.deprecateEof ? Phase.Rows : Phase.ColumnsEof;
        return;
      case Phase.ColumnsEof:
        this.phase = Phase.Rows;
        return;
      case Phase.Rows:
        if (first === 0xff) return this.done(cmd, readError(buf, start, end));
        if (first === 0xfe && end - start < MAX_PAYLOAD) {
          if (this.firstSet) {
            this.firstSet = false;
            this.haveSet = true;
          }
          if (endStatus(buf, start, end, !this.deprecateEof) & SERVER_MORE_RESULTS_EXISTS) {
            this.phase = Phase.Start;
            return;
          }
          return this.done(cmd, null);
        }
        if (this.firstSet && this.row === null) this.row = { names: this.columns.map((c) => c.name), values: readRow(buf, start, end, this.columns) };
        return;
      case Phase.PrepareSkip:
        if (--this.skipLeft === 0) this.done(cmd, null);
        return;
    }
  };

  /** A column definition, reused from the statement's last result when its bytes are the same. */
  private column(st: Statement, i: number, buf: Buffer, start: number, end: number): Column {
    const known = st.columns[i];
    if (known !== undefined && known.raw.length === end - start && buf.compare(known.raw, 0, known.raw.length, start, end) === 0) return known.column;
    const column = readColumn(buf, start, end);
    st.columns[i] = { raw: Buffer.from(buf.subarray(start, end)), column };
    return column;
  }

  /** COM_STMT_PREPARE_OK: the statement id, then definitions to skip; the executes waiting for it go out. */
  private prepared(cmd: Command, buf: Buffer, start: number, end: number): void {
    const r = new PayloadReader(buf, start + 1, end);
    const st = cmd.statement;
    st.id = r.u32();
    const columns = r.u16();
    const params = r.u16();
    const eof = this.deprecateEof ? 0 : 1;
    this.skipLeft = (params > 0 ? params + eof : 0) + (columns > 0 ? columns + eof : 0);
    const waiting = st.waiting ?? [];
    st.waiting = null;
    for (const w of waiting) this.send(w, executeFrame(st.id, w.values));
    if (this.skipLeft > 0) this.phase = Phase.PrepareSkip;
    else this.done(cmd, null);
  }

  /** The reply to the oldest command is complete. */
  private done(cmd: Command, err: Error | null): void {
    this.sent.shift();
    const row = this.row;
    const haveSet = this.haveSet;
    this.phase = Phase.Start;
    this.firstSet = true;
    this.haveSet = false;
    this.row = null;
    this.columns = [];
    if (cmd.kind === Kind.Ping) return cmd.callback?.(err, null);
    this.answered_ = true;
    if (cmd.kind === Kind.Prepare) {
      if (err !== null) this.unprepared(cmd.statement, err);
      return;
    }
    this.load_--;
    this.progressAt = Date.now();
    if (err instanceof MysqlServerError && err.errno === ER_UNKNOWN_STMT_HANDLER) this.statements.delete(cmd.statement.sql);
    const callback = cmd.callback;
    cmd.callback = null;
    if (callback === null) return;
    if (err !== null) return callback(err, null);
    if (!haveSet) return callback(new BackendError('the query returned no result set (it must be a SELECT or a CALL that selects)'), null);
    callback(null, row);
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
    const err = new LinkError(`${wasReady ? 'lost the connection' : 'no connection'} to MySQL at ${this.server}: ${why}`, abandoned);
    const victims: Command[] = this.sent.takeAll();
    for (const st of this.statements.values()) victims.push(...(st.waiting ?? []));
    this.statements.clear();
    this.out = [];
    this.load_ = 0;
    for (const cmd of victims) {
      const callback = cmd.callback;
      cmd.callback = null;
      callback?.(err, null);
    }
    this.onClosed(this);
  }
}

function prepareFrame(sql: string): Buffer {
  const payload = Buffer.from('\x16' + sql, 'utf8');
  return framePacket(payload, 0);
}

/** Parameter types: text as VAR_STRING (converted from utf8mb4 by the server), bytes as BLOB (compared as bytes). */
const VAR_STRING = 253;
const BLOB = 252;

/**
 * COM_STMT_EXECUTE of statement `id` with `values`: no cursor, one iteration, no NULLs, the types sent every
 * time (a parameter may be text in one lookup and bytes in the next).
 */
export function executeFrame(id: number, values: readonly (string | Buffer)[]): Buffer {
  const n = values.length;
  let size = 10;
  const lengths = new Array<number>(n);
  if (n > 0) {
    size += ((n + 7) >> 3) + 1 + 2 * n;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const len = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
      lengths[i] = len;
      size += lenencSize(len) + len;
    }
  }
  const buf = Buffer.allocUnsafe(4 + size);
  buf[4] = 0x17;
  buf.writeUInt32LE(id, 5);
  buf[9] = 0; // CURSOR_TYPE_NO_CURSOR
  buf.writeUInt32LE(1, 10);
  let at = 14;
  if (n > 0) {
    buf.fill(0, at, at + ((n + 7) >> 3));
    at += (n + 7) >> 3;
    buf[at++] = 1; // new-params-bound: the types follow
    for (let i = 0; i < n; i++) {
      buf[at++] = typeof values[i] === 'string' ? VAR_STRING : BLOB;
      buf[at++] = 0;
    }
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      at = writeLenenc(buf, at, lengths[i]!);
      at += typeof v === 'string' ? buf.write(v, at, 'utf8') : v.copy(buf, at);
    }
  }
  if (size >= MAX_PAYLOAD) return framePacket(buf.subarray(4), 0);
  buf.writeUIntLE(size, 0, 3);
  buf[3] = 0;
  return buf;
}
