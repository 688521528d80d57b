/**
 * One MySQL lookup: execute the prepared statement on one of the database's connections (link.ts), and take
 * the first row of the first result set. A deadline covers the whole lookup (connecting, preparing, the
 * query), so a slow query holds one connection and the lookups behind it there, never the others.
 *
 * Retries: a lookup whose connection is lost is tried once more on another connection when that connection
 * had answered before it was sent (it may have died while idle), or when it was dropped because another
 * lookup on it timed out. A connection that never answered failing is no reason to try again.
 */
import type { Logger } from 'pino';
import { BackendTimeoutError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { PooledLookup } from '../sql-common/lookup.js';
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

class MysqlLookup extends PooledLookup<MysqlLink> {
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
    let link: MysqlLink;
    try {
      link = this.shared.pick();
    } catch (err) {
      return this.finish(err);
    }
    this.started(link);
    const wasUsed = link.hasAnswered;
    link.execute(this.opts.sql, this.opts.values, (err, row) => {
      const retry = mayRetry && (wasUsed || (err instanceof LinkError && err.abandoned));
      this.answered(link, err, retry, () => row);
    });
  }

  protected isFatal(err: unknown): boolean {
    return err instanceof LinkError;
  }

  // The connection is not taken out of the pool for a lookup, so there is nothing to give back.
  protected keep(): void {}

  // A connection closes itself when it fails (and leaves the pool): nothing is left to drop.
  protected discard(): void {}

  protected abandon(link: MysqlLink): void {
    this.shared.abandon(link);
  }

  protected timeoutError(): Error {
    return new BackendTimeoutError(`no answer from MySQL at ${this.shared.server} within ${this.opts.timeoutMs} ms`);
  }

  protected serverOf(): string {
    return this.shared.server;
  }
}
