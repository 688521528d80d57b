/**
 * One MySQL lookup: execute the prepared statement on one of the database's connections (link.ts), and take
 * the first row of the first result set. A deadline covers the whole lookup (connecting, preparing, the
 * query): past it the connection is dropped and its query stopped on the server (pools.ts), so a slow query
 * holds one connection and the lookups behind it there, never the others.
 *
 * Retries: a lookup whose connection is lost is tried once more on another connection when that connection
 * had answered before it was sent (it may have died while idle), or when it was dropped because another
 * lookup on it timed out; not with less than a tenth of its time left (sql-common/retry.ts). A connection
 * that never answered failing is no reason to try again. An SQL error fails the lookup and keeps the
 * connection.
 *
 * Callbacks rather than async functions: this is the hot path, and each promise costs (more so while
 * smapd's module scope follows every promise).
 */
import type { Logger } from 'pino';
import { BackendTimeoutError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { tooLateToRetry } from '../sql-common/retry.js';
import { LinkError, type MysqlLink } from './link.js';
import type { SharedPool } from './pools.js';

export interface LookupOptions {
  readonly sql: string;
  readonly values: readonly (string | Buffer)[];
  readonly timeoutMs: number;
  readonly log: Logger;
}

/** Run one lookup. Rejects with BackendTimeoutError past the deadline, BackendError otherwise. */
export function runLookup(shared: SharedPool, opts: LookupOptions): Promise<ResultRow | null> {
  return new Promise((resolve, reject) => new MysqlLookup(shared, opts, resolve, reject).attempt(true));
}

class MysqlLookup {
  private readonly deadline: number;
  private done = false;
  /** The connection running this lookup's statement, until it answers or is dropped. */
  private inFlight: MysqlLink | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly shared: SharedPool,
    private readonly opts: LookupOptions,
    private readonly resolve: (row: ResultRow | null) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.deadline = Date.now() + opts.timeoutMs;
    this.timer = setTimeout(this.expire, opts.timeoutMs);
  }

  attempt(mayRetry: boolean): void {
    let link: MysqlLink;
    try {
      link = this.shared.pick();
    } catch (err) {
      return this.finish(err);
    }
    this.inFlight = link;
    const wasUsed = link.hasAnswered;
    link.execute(this.opts.sql, this.opts.values, (err, row) =>
      this.answered(link, err, row, mayRetry && (wasUsed || (err instanceof LinkError && err.abandoned))),
    );
  }

  /**
   * The statement on `link` answered (`err` null) or failed; ignored when the deadline dropped it already.
   * Returns true when the lookup was sent again elsewhere.
   */
  private answered(link: MysqlLink, err: Error | null, row: ResultRow | null, mayRetry: boolean): boolean {
    if (this.inFlight !== link) return false;
    this.inFlight = null;
    if (err === null) {
      this.finish(undefined, row);
      return false;
    }
    if (!(err instanceof LinkError) || !mayRetry) {
      this.finish(err);
      return false;
    }
    // The connection may have died unnoticed while idle (server restart, a KILL, wait_timeout), or been
    // dropped for a neighbour's timeout. Lookups only read, so one more try on another connection is safe.
    if (tooLateToRetry(this.deadline, this.opts.timeoutMs)) {
      this.finish(this.timeoutError());
      return false;
    }
    this.attempt(false);
    return true;
  }

  private readonly expire = (): void => {
    this.done = true;
    const stuck = this.inFlight;
    this.inFlight = null;
    if (stuck !== null) this.shared.abandon(stuck);
    this.reject(this.timeoutError());
  };

  private timeoutError(): Error {
    return new BackendTimeoutError(`no answer from MySQL at ${this.shared.server} within ${this.opts.timeoutMs} ms`);
  }

  private finish(err: unknown, row?: ResultRow | null): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (err === undefined) this.resolve(row ?? null);
    else this.reject(err);
  }
}
