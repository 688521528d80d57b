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
  return new Promise((resolve, reject) => new Lookup(servers, opts, resolve, reject).attempt(true));
}

/**
 * The state of one lookup, across its callbacks. The query goes through pg's callback API: its promise form
 * costs a promise and a rejection handler per call, for nothing a lookup needs.
 */
class Lookup {
  private done = false;
  /** The connection running this lookup's statement, until it answers or is dropped. */
  private inFlight: Lease | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly servers: Servers,
    private readonly opts: LookupOptions,
    private readonly resolve: (row: ResultRow | null) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.timer = setTimeout(() => this.expire(), opts.timeoutMs);
  }

  attempt(mayRetry: boolean): void {
    this.servers.acquire().then(
      (lease) => this.run(lease, mayRetry),
      (err: unknown) => this.finish(err),
    );
  }

  private run(lease: Lease, mayRetry: boolean): void {
    if (this.done) return lease.client.release();
    const client = lease.client;
    const reused = usedBefore.has(client);
    this.inFlight = lease;
    const o = this.opts;
    client.query({ name: o.name, text: o.sql, values: o.values as string[], rowMode: 'array' }, (err: Error | null, res: pg.QueryResult) => {
      if (this.inFlight !== lease) return; // timed out meanwhile: already cancelled and dropped
      this.inFlight = null;
      if (err) return this.failed(lease, err, mayRetry && reused);
      usedBefore.add(client);
      client.release();
      const first = res.rows[0] as unknown[] | undefined;
      this.finish(undefined, first === undefined ? null : { names: res.fields.map((f) => f.name), values: first });
    });
  }

  private failed(lease: Lease, err: Error, mayRetry: boolean): void {
    const client = lease.client;
    if (!isFatal(err)) {
      // An SQL error leaves the connection usable.
      usedBefore.add(client);
      client.release();
      return this.finish(err);
    }
    client.release(err);
    // A connection that sat idle in the pool may have died unnoticed (server restart, a terminated
    // backend). Lookups only read, so one more try on a fresh connection is safe.
    if (mayRetry && !this.done) {
      this.opts.log.info({ server: lease.server.label, err: errorText(err) }, 'stale postgres connection; retrying on a new one');
      return this.attempt(false);
    }
    this.finish(err);
  }

  private expire(): void {
    this.done = true;
    const stuck = this.inFlight;
    this.inFlight = null;
    if (stuck !== null) {
      this.servers.cancel(stuck);
      stuck.client.release(new Error('query timed out'));
    }
    this.reject(new BackendTimeoutError(`no answer from PostgreSQL at ${stuck?.server.label ?? this.servers.label} within ${this.opts.timeoutMs} ms`));
  }

  private finish(err: unknown, row?: ResultRow | null): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (err === undefined) this.resolve(row ?? null);
    else this.reject(err);
  }
}
