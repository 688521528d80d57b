/**
 * One MySQL lookup: take a pooled connection, run the prepared statement, return the first row of the first
 * result set. A deadline covers the whole lookup (waiting for a connection, connecting, the query), so a slow
 * query holds one connection and never the others.
 *
 * Why callbacks, not mysql2's promise API: a lookup is the hot path. The promise wrappers cost a promise and
 * an Error (for its stack) per call, and `execute` re-derives the statement key and options on every call;
 * here each connection prepares a statement once, and later lookups execute that statement directly.
 */
import type { Logger } from 'pino';
import type { FieldPacket, PoolConnection, PrepareStatementInfo, QueryError } from 'mysql2';
import { BackendError, BackendTimeoutError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { errorText } from '../sql-common/replies.js';
import type { SharedPool } from './pools.js';

/**
 * Prepared statements of each pooled connection, by SQL text (the old and the new database of a reload share
 * a pool, and may differ in query). A connection in this map has answered before, so a failure on it may
 * just mean it went stale while idle.
 */
const statements = new WeakMap<PoolConnection, Map<string, PrepareStatementInfo>>();

type Field = { name: string };

/**
 * The first row of the first result set. A plain SELECT gives `rows` + `fields`; a CALL (CLIENT_MULTI_RESULTS)
 * gives one entry per result set plus a trailing status header, with `fields` holding one list per set.
 */
export function firstRow(results: unknown, fields: unknown): ResultRow | null {
  if (!Array.isArray(results) || !Array.isArray(fields)) {
    throw new BackendError('the query returned no result set (it must be a SELECT or a CALL that selects)');
  }
  const multi = fields.length > 0 && fields.every((f) => f === undefined || Array.isArray(f));
  if (!multi) return rowOf(results, fields as Field[]);
  for (let i = 0; i < results.length; i++) {
    if (Array.isArray(results[i]) && Array.isArray(fields[i])) return rowOf(results[i] as unknown[], fields[i] as Field[]);
  }
  throw new BackendError('the procedure returned no result set');
}

function rowOf(rows: unknown[], fields: readonly Field[]): ResultRow | null {
  if (rows.length === 0) return null;
  return { names: fields.map((f) => f.name), values: rows[0] as unknown[] };
}

function isFatal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { fatal?: unknown }).fatal === true;
}

export interface LookupOptions {
  readonly sql: string;
  readonly values: readonly (string | Buffer)[];
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** Run one lookup. Rejects with BackendTimeoutError past the deadline, BackendError (or the driver's error) otherwise. */
export function runLookup(shared: SharedPool, opts: LookupOptions): Promise<ResultRow | null> {
  return new Promise((resolve, reject) => new Lookup(shared, opts, resolve, reject).attempt(true));
}

/** The state of one lookup, across its callbacks. */
class Lookup {
  private done = false;
  /** The connection running this lookup's statement, until it answers or is abandoned. */
  private inFlight: PoolConnection | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly shared: SharedPool,
    private readonly opts: LookupOptions,
    private readonly resolve: (row: ResultRow | null) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.timer = setTimeout(() => this.expire(), opts.timeoutMs);
  }

  attempt(mayRetry: boolean): void {
    this.shared.pool.getConnection((err, conn) => {
      if (err) return this.finish(new BackendError(`no connection to MySQL at ${this.shared.server}: ${errorText(err)}`, { cause: err }));
      if (this.done) return conn.release();
      this.inFlight = conn;
      const stmt = statements.get(conn)?.get(this.opts.sql);
      if (stmt !== undefined) return this.execute(conn, stmt, mayRetry, true);
      const reused = statements.has(conn);
      conn.prepare(this.opts.sql, (perr, prepared) => {
        if (perr) return this.failed(conn, perr, mayRetry && reused);
        let byText = statements.get(conn);
        if (byText === undefined) statements.set(conn, (byText = new Map()));
        byText.set(this.opts.sql, prepared);
        this.execute(conn, prepared, mayRetry, reused);
      });
    });
  }

  private execute(conn: PoolConnection, stmt: PrepareStatementInfo, mayRetry: boolean, reused: boolean): void {
    stmt.execute(this.opts.values, (err: QueryError | null, results: unknown, fields: FieldPacket[]) => {
      if (err) return this.failed(conn, err, mayRetry && reused);
      if (this.inFlight !== conn) return; // timed out meanwhile: the connection was already abandoned
      this.inFlight = null;
      conn.release();
      let row: ResultRow | null;
      try {
        row = firstRow(results, fields);
      } catch (e) {
        return this.finish(e);
      }
      this.finish(undefined, row);
    });
  }

  private failed(conn: PoolConnection, err: QueryError, mayRetry: boolean): void {
    if (this.inFlight !== conn) return;
    this.inFlight = null;
    if (!isFatal(err)) {
      // An SQL error leaves the connection usable; its statement is prepared again next time, in case the
      // error was about the statement itself (ER_UNKNOWN_STMT_HANDLER).
      statements.get(conn)?.delete(this.opts.sql);
      conn.release();
      return this.finish(err);
    }
    conn.destroy();
    // A connection that sat idle in the pool may have died unnoticed (server restart, KILL, wait_timeout).
    // Lookups only read, so one more try on a fresh connection is safe.
    if (mayRetry && !this.done) {
      this.opts.log.info({ server: this.shared.server, err: errorText(err) }, 'stale mysql connection; retrying on a new one');
      return this.attempt(false);
    }
    this.finish(err);
  }

  private expire(): void {
    this.done = true;
    const stuck = this.inFlight;
    this.inFlight = null;
    if (stuck !== null) abandon(this.shared, stuck, this.opts.log);
    this.reject(new BackendTimeoutError(`no answer from MySQL at ${this.shared.server} within ${this.opts.timeoutMs} ms`));
  }

  private finish(err: unknown, row?: ResultRow | null): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (err === undefined) this.resolve(row ?? null);
    else this.reject(err);
  }
}

/**
 * Drop a connection whose query outlived the deadline, and stop the query on the server, which would
 * otherwise run to its end (closing the socket does not interrupt it). The KILL goes over the pool's own
 * connection outside the pool: taking a pooled one could wait behind the very lookups that are stuck.
 */
function abandon(shared: SharedPool, conn: PoolConnection, log: Logger): void {
  const thread = conn.threadId;
  // Destroying first takes the connection out of the pool at once, so its slot is free for the next lookup.
  conn.destroy();
  if (typeof thread !== 'number' || !Number.isInteger(thread)) {
    log.warn({ server: shared.server }, 'timed-out mysql connection has no thread id; its query runs on');
    return;
  }
  void shared.killer.kill(thread);
}
