/**
 * The skeleton the SQL modules' lookups share: one deadline over the whole lookup (waiting for a connection,
 * connecting, the query), the connection in flight dropped (and its query stopped) when the deadline passes,
 * an SQL error that keeps the connection, and one retry on a fresh connection when a connection that sat idle
 * in the pool turns out dead. A subclass says how to get, keep and drop a connection of its driver.
 *
 * Callbacks rather than async functions: this is the hot path, and each promise costs (more so while
 * smapd's module scope follows every promise).
 */
import type { Logger } from 'pino';
import type { ResultRow } from './replies.js';
import { errorText } from './replies.js';

export abstract class PooledLookup<Conn> {
  private done = false;
  /** The connection running this lookup's statement, until it answers or is dropped. */
  private inFlight: Conn | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    protected readonly timeoutMs: number,
    protected readonly log: Logger,
    private readonly resolve: (row: ResultRow | null) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.timer = setTimeout(() => this.expire(), timeoutMs);
  }

  /** Get a connection and call `run` with it (or `finish` with the reason there is none). */
  abstract attempt(mayRetry: boolean): void;
  /** Whether the error leaves the connection unusable. */
  protected abstract isFatal(err: unknown): boolean;
  /** Give a connection back to the pool after an answer or an SQL error (`err`). */
  protected abstract keep(conn: Conn, err?: unknown): void;
  /** Take a broken connection out of the pool. */
  protected abstract discard(conn: Conn, err: unknown): void;
  /** Drop a connection whose query outlived the deadline, and stop that query on the server. */
  protected abstract abandon(conn: Conn): void;
  /** The error a timed-out lookup rejects with (`stuck`: the connection it was on, if any). */
  protected abstract timeoutError(stuck: Conn | null): Error;
  /** Where a connection goes, for the stale-connection log line. */
  protected abstract serverOf(conn: Conn): string;
  /** The backend's name in log lines: `mysql`, `postgres`. */
  protected abstract readonly backend: string;

  /** Whether the lookup is over (answered, failed or timed out): a connection got now goes straight back. */
  protected get finished(): boolean {
    return this.done;
  }

  /** The connection is about to run the statement; the deadline now drops it. */
  protected started(conn: Conn): void {
    this.inFlight = conn;
  }

  /** The statement on `conn` answered (`err` null) or failed. Ignored when the deadline dropped it already. */
  protected answered(conn: Conn, err: unknown, mayRetry: boolean, row: () => ResultRow | null): void {
    if (this.inFlight !== conn) return;
    this.inFlight = null;
    if (err) return this.failed(conn, err, mayRetry);
    this.keep(conn);
    let result: ResultRow | null;
    try {
      result = row();
    } catch (e) {
      return this.finish(e);
    }
    this.finish(undefined, result);
  }

  private failed(conn: Conn, err: unknown, mayRetry: boolean): void {
    if (!this.isFatal(err)) {
      this.keep(conn, err);
      return this.finish(err);
    }
    this.discard(conn, err);
    // A connection that sat idle in the pool may have died unnoticed (server restart, a killed or terminated
    // backend, wait_timeout). Lookups only read, so one more try on a fresh connection is safe.
    if (mayRetry && !this.done) {
      this.log.info({ server: this.serverOf(conn), err: errorText(err) }, `stale ${this.backend} connection; retrying on a new one`);
      return this.attempt(false);
    }
    this.finish(err);
  }

  private expire(): void {
    this.done = true;
    const stuck = this.inFlight;
    this.inFlight = null;
    if (stuck !== null) this.abandon(stuck);
    this.reject(this.timeoutError(stuck));
  }

  protected finish(err: unknown, row?: ResultRow | null): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (err === undefined) this.resolve(row ?? null);
    else this.reject(err);
  }
}
