/**
 * One MySQL lookup: take a pooled connection, run the prepared statement, return the first row of the first
 * result set. A deadline covers the whole lookup (waiting for a connection, connecting, the query), so a slow
 * query holds one connection and never the others.
 */
import type { Logger } from 'pino';
import type { PoolConnection } from 'mysql2/promise';
import { BackendError, BackendTimeoutError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { errorText } from '../sql-common/replies.js';
import { guardConnection, type SharedPool } from './pools.js';

/** Connections that have answered at least once: a failure on one of them may just be a stale connection. */
const usedBefore = new WeakSet<object>();

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
  return new Promise((resolve, reject) => {
    let done = false;
    let inFlight: PoolConnection | null = null;
    const timer = setTimeout(() => {
      done = true;
      const stuck = inFlight;
      inFlight = null;
      if (stuck !== null) abandon(shared, stuck, opts.log);
      reject(new BackendTimeoutError(`no answer from MySQL at ${shared.server} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const finish = (err: unknown, row?: ResultRow | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err === undefined) resolve(row ?? null);
      else reject(err);
    };

    const attempt = async (mayRetry: boolean): Promise<void> => {
      let conn: PoolConnection;
      try {
        conn = await shared.pool.getConnection();
      } catch (err) {
        finish(new BackendError(`no connection to MySQL at ${shared.server}: ${errorText(err)}`, { cause: err }));
        return;
      }
      const core = conn.connection as unknown as Parameters<typeof guardConnection>[0];
      guardConnection(core, opts.log, shared.server);
      if (done) {
        conn.release();
        return;
      }
      const reused = usedBefore.has(core);
      inFlight = conn;
      try {
        const [results, fields] = await conn.execute({ sql: opts.sql, values: opts.values as (string | Buffer)[], rowsAsArray: true });
        if (inFlight !== conn) return; // timed out meanwhile: the connection was already abandoned
        inFlight = null;
        usedBefore.add(core);
        conn.release();
        finish(undefined, firstRow(results, fields));
      } catch (err) {
        if (inFlight !== conn) return;
        inFlight = null;
        if (!isFatal(err)) {
          // An SQL error leaves the connection usable.
          conn.release();
          finish(err);
          return;
        }
        conn.destroy();
        // A connection that sat idle in the pool may have died unnoticed (server restart, KILL, wait_timeout).
        // Lookups only read, so one more try on a fresh connection is safe.
        if (reused && mayRetry && !done) {
          opts.log.info({ server: shared.server, err: errorText(err) }, 'stale mysql connection; retrying on a new one');
          await attempt(false);
          return;
        }
        finish(err);
      }
    };
    attempt(true).catch((err: unknown) => finish(err));
  });
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
