/**
 * One PostgreSQL lookup: on a connection from the first server that answers, run the prepared statement and
 * return the first row. One deadline covers the whole lookup (waiting for a connection, connecting, the
 * query); past it the query is cancelled on the server and its connection dropped (link.ts does that for a
 * lookup in flight). A lookup that fails with its connection, when that connection had answered before (it
 * may just have gone stale: a server restart, pg_terminate_backend), is tried once more on another.
 *
 * Callbacks rather than async functions: this is the hot path, and each promise costs (more so while smapd's
 * module scope follows every promise).
 */
import { BackendTimeoutError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { tooLateToRetry } from '../sql-common/retry.js';
import type { Link, LinkLookup } from './link.js';
import type { Servers } from './servers.js';

export interface LookupOptions {
  readonly values: readonly string[];
  readonly timeoutMs: number;
}

/** Run one lookup. Rejects with BackendTimeoutError past the deadline, BackendError otherwise. */
export function runLookup(servers: Servers, opts: LookupOptions): Promise<ResultRow | null> {
  return new Promise((resolve, reject) => new PostgresLookup(servers, opts, resolve, reject).attempt());
}

class PostgresLookup implements LinkLookup {
  readonly deadline: number;
  readonly values: readonly string[];
  private done = false;
  private retried = false;
  /** Sent again elsewhere from a connection stuck on a slow query: once is enough. */
  private hasMoved = false;
  /** Runs only while the lookup waits for a connection; on a connection, the connection keeps the time. */
  private waitTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly servers: Servers,
    private readonly opts: LookupOptions,
    private readonly resolve: (row: ResultRow | null) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.values = opts.values;
    this.deadline = Date.now() + opts.timeoutMs;
  }

  attempt(): void {
    const link = this.servers.pick();
    if (link !== null) return link.send(this);
    if (this.waitTimer === null) this.waitTimer = setTimeout(this.expire, Math.max(this.deadline - Date.now(), 0));
    this.servers.acquire().then(this.onLink, (err: unknown) => this.finish(err));
  }

  private readonly onLink = (link: Link): void => {
    if (this.done) return;
    if (this.waitTimer !== null) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    link.send(this);
  };

  answered(row: ResultRow | null): void {
    if (this.done) return;
    this.done = true;
    this.resolve(row);
  }

  failed(err: Error, retry: boolean): void {
    if (this.done) return;
    if (!retry || this.retried) return this.finish(err);
    // Lookups only read, so one more try on another connection is safe (unless it is too late for one).
    if (tooLateToRetry(this.deadline, this.opts.timeoutMs)) return this.expire();
    this.retried = true;
    this.attempt();
  }

  mayMove(): boolean {
    return !this.done && !this.hasMoved;
  }

  moved(): void {
    this.hasMoved = true;
    this.attempt();
  }

  private readonly expire = (): void => {
    this.finish(new BackendTimeoutError(`no answer from PostgreSQL at ${this.servers.label} within ${this.opts.timeoutMs} ms`));
  };

  private finish(err: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.waitTimer !== null) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.reject(err);
  }
}
