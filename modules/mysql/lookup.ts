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
import { PooledLookup } from '../sql-common/lookup.js';
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

export interface LookupOptions {
  readonly sql: string;
  readonly values: readonly (string | Buffer)[];
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** Run one lookup. Rejects with BackendTimeoutError past the deadline, BackendError (or the driver's error) otherwise. */
export function runLookup(shared: SharedPool, opts: LookupOptions): Promise<ResultRow | null> {
  return new Promise((resolve, reject) => new MysqlLookup(shared, opts, resolve, reject).attempt(true));
}

class MysqlLookup extends PooledLookup<PoolConnection> {
  protected readonly backend = 'mysql';

  constructor(
    private readonly shared: SharedPool,
    private readonly opts: LookupOptions,
    resolve: (row: ResultRow | null) => void,
    reject: (err: unknown) => void,
  ) {
    super(opts.timeoutMs, opts.log, resolve, reject);
  }

  attempt(mayRetry: boolean): void {
    this.shared.pool.getConnection((err, conn) => {
      if (err) return this.finish(new BackendError(`no connection to MySQL at ${this.shared.server}: ${errorText(err)}`, { cause: err }));
      if (this.finished) return conn.release();
      this.started(conn);
      const stmt = statements.get(conn)?.get(this.opts.sql);
      if (stmt !== undefined) return this.execute(conn, stmt, mayRetry);
      // Only a connection that has answered before may have gone stale: a new one failing is no reason to retry.
      const retry = mayRetry && statements.has(conn);
      conn.prepare(this.opts.sql, (perr, prepared) => {
        if (perr) return this.answered(conn, perr, retry, noRow);
        let byText = statements.get(conn);
        if (byText === undefined) statements.set(conn, (byText = new Map()));
        byText.set(this.opts.sql, prepared);
        this.execute(conn, prepared, retry);
      });
    });
  }

  private execute(conn: PoolConnection, stmt: PrepareStatementInfo, mayRetry: boolean): void {
    stmt.execute(this.opts.values, (err: QueryError | null, results: unknown, fields: FieldPacket[]) =>
      this.answered(conn, err, mayRetry, () => firstRow(results, fields)),
    );
  }

  protected isFatal(err: unknown): boolean {
    return typeof err === 'object' && err !== null && (err as { fatal?: unknown }).fatal === true;
  }

  protected keep(conn: PoolConnection, err?: unknown): void {
    // After an SQL error the statement is prepared again next time, in case the error was about the statement
    // itself (ER_UNKNOWN_STMT_HANDLER).
    if (err !== undefined) statements.get(conn)?.delete(this.opts.sql);
    conn.release();
  }

  protected discard(conn: PoolConnection): void {
    conn.destroy();
  }

  protected abandon(conn: PoolConnection): void {
    abandon(this.shared, conn, this.opts.log);
  }

  protected timeoutError(): Error {
    return new BackendTimeoutError(`no answer from MySQL at ${this.shared.server} within ${this.opts.timeoutMs} ms`);
  }

  protected serverOf(): string {
    return this.shared.server;
  }
}

const noRow = (): null => null;

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
