/**
 * One PostgreSQL lookup: take a pooled connection (from the first server that answers), run the prepared
 * statement, return the first row. A deadline covers the whole lookup; past it the query is cancelled on the
 * server and its connection dropped from the pool, so the slot is free again at once.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { BackendTimeoutError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { errorText } from '../sql-common/replies.js';
import type { Lease, Servers } from './servers.js';

/** Connections that have answered at least once: a failure on one of them may just be a stale connection. */
const usedBefore = new WeakSet<object>();

/** Column values as the server writes them (dates, numerics, int8 keep their exact text). */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

export interface LookupOptions {
  /** The prepared statement's name: the server parses and plans it once per connection. */
  readonly name: string;
  readonly sql: string;
  readonly values: readonly string[];
  readonly timeoutMs: number;
  readonly log: Logger;
}

/**
 * Whether an error leaves the connection unusable: anything that is not an error the server reported for
 * the statement, and the server's own connection-class errors (08: connection exception, 57P: operator
 * intervention such as pg_terminate_backend or a shutdown).
 */
function isFatal(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return true;
  const code = err.code ?? '';
  return code.startsWith('08') || code.startsWith('57P');
}

/** Run one lookup. Rejects with BackendTimeoutError past the deadline, BackendError (or the driver's error) otherwise. */
export function runLookup(servers: Servers, opts: LookupOptions): Promise<ResultRow | null> {
  return new Promise((resolve, reject) => {
    let done = false;
    let inFlight: Lease | null = null;
    const timer = setTimeout(() => {
      done = true;
      const stuck = inFlight;
      inFlight = null;
      if (stuck !== null) {
        servers.cancel(stuck);
        stuck.client.release(new Error('query timed out'));
      }
      reject(new BackendTimeoutError(`no answer from PostgreSQL at ${stuck?.server.label ?? servers.label} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const finish = (err: unknown, row?: ResultRow | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err === undefined) resolve(row ?? null);
      else reject(err);
    };

    const attempt = async (mayRetry: boolean): Promise<void> => {
      let lease: Lease;
      try {
        lease = await servers.acquire();
      } catch (err) {
        finish(err);
        return;
      }
      if (done) {
        lease.client.release();
        return;
      }
      const client = lease.client;
      const reused = usedBefore.has(client);
      inFlight = lease;
      try {
        const res = await client.query({ name: opts.name, text: opts.sql, values: opts.values as string[], rowMode: 'array', types: TEXT_TYPES });
        if (inFlight !== lease) return; // timed out meanwhile: already cancelled and dropped
        inFlight = null;
        usedBefore.add(client);
        client.release();
        const first = res.rows[0] as unknown[] | undefined;
        finish(undefined, first === undefined ? null : { names: res.fields.map((f) => f.name), values: first });
      } catch (err) {
        if (inFlight !== lease) return;
        inFlight = null;
        if (!isFatal(err)) {
          // An SQL error leaves the connection usable.
          usedBefore.add(client);
          client.release();
          finish(err);
          return;
        }
        client.release(err instanceof Error ? err : new Error(errorText(err)));
        // A connection that sat idle in the pool may have died unnoticed (server restart, a terminated
        // backend). Lookups only read, so one more try on a fresh connection is safe.
        if (reused && mayRetry && !done) {
          opts.log.info({ server: lease.server.label, err: errorText(err) }, 'stale postgres connection; retrying on a new one');
          await attempt(false);
          return;
        }
        finish(err);
      }
    };
    attempt(true).catch((err: unknown) => finish(err));
  });
}
