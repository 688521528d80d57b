/**
 * A configured database as the core uses it: lazy open (shared by every connection of the process), a
 * failure turned into `TEMP reason`, a per-query timeout turned into `TIMEOUT reason`, and an optional
 * result cache. The sync path stays sync: a module that answers at once costs no promise.
 */
import type { Logger } from 'pino';
import * as R from '../protocol/reply.js';
import type { Reply } from '../protocol/reply.js';
import type { ConnInfo, SmapModule } from './api.js';
import type { DatabaseHandle } from './database.js';
import type { ResultCache } from './cache.js';

/** After a failed open, answer TEMP at once for this long before trying again, so a dead backend is not hammered. */
const REOPEN_BACKOFF_MS = 1000;
/** Async answers that take longer than this get `TIMEOUT` when the database sets no timeout: Postfix waits 100 s. */
export const DEFAULT_QUERY_TIMEOUT_MS = 90_000;

export interface HandleStats {
  queries: number;
  transforms: number;
  errors: number;
  timeouts: number;
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg === '' ? 'unknown error' : msg;
}

export class DatabaseHandleImpl<Db = unknown> implements DatabaseHandle {
  readonly canQuery: boolean;
  readonly canTransform: boolean;
  readonly stats: HandleStats = { queries: 0, transforms: 0, errors: 0, timeouts: 0 };
  private opened: boolean;
  private opening: Promise<void> | null = null;
  private retryAt = 0;
  private lastOpenError = '';
  private closed = false;

  constructor(
    readonly id: string,
    readonly moduleId: string,
    private readonly mod: SmapModule<Db>,
    private readonly db: Db,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    readonly cache: ResultCache | undefined,
  ) {
    this.canQuery = mod.capabilities.includes('query');
    this.canTransform = mod.capabilities.includes('transform');
    this.opened = mod.openDb === undefined;
  }

  query(map: string, key: string, conn: ConnInfo): Reply | Promise<Reply> {
    this.stats.queries++;
    if (this.cache !== undefined) {
      const hit = this.cache.get(map, key, conn);
      if (hit !== undefined) return hit;
    }
    if (!this.opened) return this.openThen(() => this.runQuery(map, key, conn), (why) => R.temp(why));
    return this.runQuery(map, key, conn);
  }

  transform(input: string, conn: ConnInfo): string | null | Promise<string | null> {
    this.stats.transforms++;
    if (!this.opened) return this.openThen(() => this.runTransform(input, conn), () => null);
    return this.runTransform(input, conn);
  }

  /** The module's administrative command names. */
  get commandNames(): readonly string[] {
    return Object.keys(this.mod.commands ?? {});
  }

  /** Run an administrative command (control socket); opens the database first if needed. */
  async command(name: string, args: readonly string[]): Promise<string> {
    // hasOwn: `constructor` or `toString` must not find a member of Object.prototype.
    const commands = this.mod.commands;
    const cmd = commands !== undefined && Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (cmd === undefined) {
      const known = this.commandNames;
      throw new Error(`database ${this.id} has no command '${name}'` + (known.length ? ` (it has: ${known.join(', ')})` : ''));
    }
    if (!this.opened) {
      await this.open();
      if (!this.opened) throw new Error(`database ${this.id} unavailable: ${this.lastOpenError}`);
    }
    return cmd.run(this.db, args);
  }

  /** Open now (used at start to report a backend that is down, without failing the start). */
  async open(): Promise<void> {
    if (this.opened) return;
    await this.openThen(() => undefined, () => undefined);
  }

  get isOpen(): boolean {
    return this.opened;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.opening) await this.opening.catch(() => undefined);
    try {
      await this.mod.closeDb?.(this.db);
    } catch (err) {
      this.log.warn({ db: this.id, err: errorText(err) }, 'error closing database');
    }
    this.opened = this.mod.openDb === undefined;
  }

  private runQuery(map: string, key: string, conn: ConnInfo): Reply | Promise<Reply> {
    let r: Reply | Promise<Reply>;
    try {
      r = this.mod.query!(this.db, map, key, conn);
    } catch (err) {
      return this.queryFailed(err);
    }
    if (typeof r === 'string') {
      if (this.cache !== undefined) this.cache.set(map, key, conn, r);
      return r;
    }
    if (r === null || typeof r !== 'object' || typeof (r as Promise<Reply>).then !== 'function') {
      return this.queryFailed(new Error('module returned no reply'));
    }
    return this.withTimeout(r).then(
      (reply) => {
        if (reply === TIMED_OUT) return this.timedOut();
        if (typeof reply !== 'string') return this.queryFailed(new Error('module returned no reply'));
        if (this.cache !== undefined) this.cache.set(map, key, conn, reply);
        return reply;
      },
      (err) => this.queryFailed(err),
    );
  }

  private runTransform(input: string, conn: ConnInfo): string | null | Promise<string | null> {
    let r: string | null | Promise<string | null>;
    try {
      r = this.mod.transform!(this.db, input, conn);
    } catch (err) {
      return this.transformFailed(err);
    }
    if (r === null || typeof r === 'string') return r;
    return this.withTimeout(r).then(
      (v) => (v === TIMED_OUT ? (this.timedOut(), null) : typeof v === 'string' ? v : null),
      (err) => this.transformFailed(err),
    );
  }

  private withTimeout<T>(p: Promise<T>): Promise<T | typeof TIMED_OUT> {
    if (this.timeoutMs <= 0) return p;
    let timer: NodeJS.Timeout;
    const t = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(resolve, this.timeoutMs, TIMED_OUT);
    });
    return Promise.race([p, t]).finally(() => clearTimeout(timer));
  }

  private timedOut(): Reply {
    this.stats.timeouts++;
    this.log.warn({ db: this.id, timeoutMs: this.timeoutMs }, 'database query timed out');
    return R.timeout(`database ${this.id} did not answer within ${this.timeoutMs} ms`);
  }

  private queryFailed(err: unknown): Reply {
    this.stats.errors++;
    const why = errorText(err);
    this.log.error({ db: this.id, err: why }, 'database query failed');
    return R.temp(`database ${this.id}: ${why}`);
  }

  private transformFailed(err: unknown): null {
    this.stats.errors++;
    this.log.error({ db: this.id, err: errorText(err) }, 'transformation failed');
    return null;
  }

  /** Open (once, shared by concurrent callers), then run `next`; on failure answer with `onFail(reason)`. */
  private openThen<T>(next: () => T | Promise<T>, onFail: (why: string) => T): T | Promise<T> {
    if (this.closed) return onFail(`database ${this.id} is closed`);
    const now = Date.now();
    if (this.opening === null && now < this.retryAt) {
      return onFail(`database ${this.id} unavailable: ${this.lastOpenError}`);
    }
    if (this.opening === null) {
      let result: void | Promise<void>;
      try {
        result = this.mod.openDb!(this.db);
      } catch (err) {
        this.openFailed(err);
        return onFail(`database ${this.id} unavailable: ${this.lastOpenError}`);
      }
      if (result === undefined || typeof (result as Promise<void>)?.then !== 'function') {
        this.openSucceeded();
        return next();
      }
      this.opening = (result as Promise<void>).then(
        () => this.openSucceeded(),
        (err) => {
          this.openFailed(err);
          throw err;
        },
      );
      this.opening.catch(() => undefined);
    }
    return this.opening.then(
      () => next(),
      () => onFail(`database ${this.id} unavailable: ${this.lastOpenError}`),
    );
  }

  private openSucceeded(): void {
    this.opening = null;
    this.opened = true;
    if (this.lastOpenError !== '') this.log.info({ db: this.id }, 'database opened after earlier failure');
    this.lastOpenError = '';
  }

  private openFailed(err: unknown): void {
    this.opening = null;
    this.stats.errors++;
    this.lastOpenError = errorText(err);
    this.retryAt = Date.now() + REOPEN_BACKOFF_MS;
    this.log.error({ db: this.id, err: this.lastOpenError }, 'cannot open database');
  }
}

const TIMED_OUT = Symbol('timed out');
