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
import { PooledLookup } from '../sql-common/lookup.js';
import type { Lease, Servers } from './servers.js';

/** Connections that have answered at least once: a failure on one of them may just be a stale connection. */
const usedBefore = new WeakSet<object>();

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
  return new Promise((resolve, reject) => new PostgresLookup(servers, opts, resolve, reject).attempt(true));
}

/** The query goes through pg's callback API: its promise form costs a promise and a rejection handler per call. */
class PostgresLookup extends PooledLookup<Lease> {
  protected readonly backend = 'postgres';

  constructor(
    private readonly servers: Servers,
    private readonly opts: LookupOptions,
    resolve: (row: ResultRow | null) => void,
    reject: (err: unknown) => void,
  ) {
    super(opts.timeoutMs, opts.log, resolve, reject);
  }

  attempt(mayRetry: boolean): void {
    this.servers.acquire().then(
      (lease) => this.run(lease, mayRetry),
      (err: unknown) => this.finish(err),
    );
  }

  private run(lease: Lease, mayRetry: boolean): void {
    if (this.finished) return lease.client.release();
    // Only a connection that has answered before may have gone stale: a new one failing is no reason to retry.
    const retry = mayRetry && usedBefore.has(lease.client);
    this.started(lease);
    const o = this.opts;
    lease.client.query({ name: o.name, text: o.sql, values: o.values as string[], rowMode: 'array' }, (err: Error | null, res: pg.QueryResult) =>
      this.answered(lease, err, retry, () => {
        const first = res.rows[0] as unknown[] | undefined;
        return first === undefined ? null : { names: res.fields.map((f) => f.name), values: first };
      }),
    );
  }

  protected isFatal(err: unknown): boolean {
    return isFatal(err);
  }

  protected keep(lease: Lease): void {
    usedBefore.add(lease.client);
    lease.client.release();
  }

  protected discard(lease: Lease, err: unknown): void {
    lease.client.release(err instanceof Error ? err : new Error(errorText(err)));
  }

  protected abandon(lease: Lease): void {
    this.servers.cancel(lease);
    lease.client.release(new Error('query timed out'));
  }

  protected timeoutError(stuck: Lease | null): Error {
    return new BackendTimeoutError(`no answer from PostgreSQL at ${stuck?.server.label ?? this.servers.label} within ${this.opts.timeoutMs} ms`);
  }

  protected serverOf(lease: Lease): string {
    return lease.server.label;
  }
}
