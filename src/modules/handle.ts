/**
 * A configured database as the core uses it: lazy open (shared by every connection of the process), a
 * failure turned into `TEMP`, a per-query timeout turned into `TIMEOUT`, and an optional result cache. The
 * sync path stays sync: a module that answers at once costs no promise.
 *
 * What a client sees is decided here and in src/errors.ts (CLIENT_REASONS): short fixed phrases. The detail
 * (file paths, host:port, driver messages) goes to the log, with the module and database id.
 *
 * Every call into the module runs in the database's ModuleScope, so an error that escapes it later (a timer,
 * a forgotten promise) is blamed on this database: it answers `TEMP database unavailable`, is closed and
 * opened again after a back-off, and the rest of the daemon goes on.
 */
import type { Logger } from 'pino';
import * as R from '../protocol/reply.js';
import type { Reply } from '../protocol/reply.js';
import {
  CLIENT_REASONS,
  errorDetail,
  HookTimeoutError,
  isBackendTimeout,
  ModuleContractError,
} from '../errors.js';
import type { ConnInfo, SmapModule } from './api.js';
import type { DatabaseHandle } from './database.js';
import type { ResultCache } from './cache.js';
import { DeadlineList } from './deadline-list.js';
import { Deferred } from './deferred.js';
import { callHook, isThenable, withDeadline } from './hooks.js';
import { enterCore, enterScope, leaveScope, ModuleScope } from './scope.js';
import { LatencyHistogram, lookupClock } from '../metrics/latency.js';

/** After a failed open, answer TEMP at once for this long before trying again, so a dead backend is not hammered. */
const REOPEN_BACKOFF_MS = 1000;
/** Async answers that take longer than this get `TIMEOUT` when the database sets no timeout: Postfix waits 100 s. */
export const DEFAULT_QUERY_TIMEOUT_MS = 90_000;

// Made once: the failure paths allocate no reply text.
const UNAVAILABLE = R.temp(CLIENT_REASONS.unavailable);
const FAILED = R.temp(CLIENT_REASONS.failed);
const TIMED_OUT_REPLY = R.timeout(CLIENT_REASONS.timeout);

export interface HandleStats {
  queries: number;
  transforms: number;
  errors: number;
  timeouts: number;
}

/** A short, safe description of a value a module returned, for the log (never the whole value). */
function describeValue(v: unknown): string {
  if (typeof v === 'string') return `a string that is not a reply: ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? `an object (${Object.prototype.toString.call(v)})` : `a ${typeof v}`;
}

export class DatabaseHandleImpl<Db = unknown> implements DatabaseHandle {
  readonly canQuery: boolean;
  readonly canTransform: boolean;
  readonly stats: HandleStats = { queries: 0, transforms: 0, errors: 0, timeouts: 0 };
  private opened: boolean;
  private opening: Promise<void> | null = null;
  /** Bumped by a fault or a close, so that an open still running from before cannot mark the database open. */
  private generation = 0;
  /** closeDb after a fault, until it has finished; the database answers TEMP meanwhile. */
  private resetting: Promise<void> | null = null;
  private retryAt = 0;
  private lastOpenError = '';
  private closed = false;
  readonly scope: ModuleScope;
  /** The deadlines of the async lookups in flight: one timer for all of them, none per lookup. */
  private readonly deadlines = new DeadlineList();

  constructor(
    readonly id: string,
    readonly moduleId: string,
    private readonly mod: SmapModule<Db>,
    private readonly db: Db,
    private readonly log: Logger,
    /** The database's `timeout`: each query, the open, and a close outside a stop. */
    readonly timeoutMs: number,
    readonly cache: ResultCache | undefined,
    scope?: ModuleScope,
  ) {
    this.canQuery = mod.capabilities.includes('query');
    this.canTransform = mod.capabilities.includes('transform');
    this.opened = mod.openDb === undefined;
    this.scope = scope ?? new ModuleScope(moduleId, id, log);
    this.scope.onFault = (err) => this.faulted(err);
  }

  /** How long lookups take, from the read that brought the request to its answer (cache hits included). */
  readonly latency = new LatencyHistogram();

  query(map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply> {
    const started = lookupClock.start();
    this.stats.queries++;
    if (this.cache !== undefined) {
      const hit = this.cache.get(map, key, conn);
      if (hit !== undefined) return this.timed(started, hit);
    }
    if (!this.opened) {
      // The wait for the open (itself bounded by the timeout) counts towards the request's timeout, so a
      // client never waits open + query.
      const openStarted = Date.now();
      return this.openThen(
        () => this.runQuery(map, key, conn, this.timeoutMs - (Date.now() - openStarted), started, lookupClock.start()),
        () => this.timed(started, UNAVAILABLE),
      );
    }
    return this.runQuery(map, key, conn, this.timeoutMs, started, started);
  }

  /** Every answer to a lookup passes here once, when it is given: its time goes into the histogram. */
  private timed(started: number, reply: Reply): Reply {
    lookupClock.answered(this.latency, started);
    return reply;
  }

  transform(input: string, conn: ConnInfo): string | null | PromiseLike<string | null> {
    this.stats.transforms++;
    if (!this.opened) {
      const started = Date.now();
      return this.openThen(() => this.runTransform(input, conn, this.timeoutMs - (Date.now() - started)), () => null);
    }
    return this.runTransform(input, conn, this.timeoutMs);
  }

  /** How long a hook of this database may take: its timeout, or no limit when it has none (0, tests only). */
  private get hookMs(): number {
    return this.timeoutMs > 0 ? this.timeoutMs : Infinity;
  }

  /** The module's administrative command names. */
  get commandNames(): readonly string[] {
    return Object.keys(this.mod.commands ?? {});
  }

  /** The one line of help a command declares (`ControlCommand.help`), for `smapc --control db NAME help`. */
  commandHelp(name: string): string | undefined {
    const commands = this.mod.commands;
    return commands !== undefined && Object.hasOwn(commands, name) ? commands[name]?.help : undefined;
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
    return callHook(this.scope, `command ${name}`, this.hookMs, () => cmd.run(this.db, args));
  }

  /** Open now (used at start to report a backend that is down, without failing the start). */
  async open(): Promise<void> {
    if (this.opened) return;
    await this.openThen(() => undefined, () => undefined);
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /**
   * Call closeDb, once, waiting for it at most `budgetMs` (default: the database's timeout). A hook that
   * does not finish is logged and left behind: a hung closeDb never stops a reload or the daemon's exit.
   */
  async close(budgetMs = this.hookMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    const deadline = Date.now() + budgetMs;
    // Let an open or a reset that is under way finish first, so that closeDb sees what it made.
    const pending = this.opening ?? this.resetting;
    if (pending !== null) await withDeadline(pending, budgetMs, 'open').catch(() => undefined);
    await this.callClose(deadline - Date.now());
    this.opened = this.mod.openDb === undefined;
  }

  private async callClose(ms: number): Promise<void> {
    try {
      await callHook(this.scope, 'closeDb', ms, () => this.mod.closeDb?.(this.db));
    } catch (err) {
      const hung = err instanceof HookTimeoutError;
      this.log.warn({ module: this.moduleId, db: this.id, err: errorDetail(err) }, hung ? 'closeDb did not finish; going on without it' : 'error closing database');
    }
  }

  /**
   * Ask the module; an async answer is waited for at most `ms` (what is left of the request's timeout). The
   * answer, whatever it is, is timed from `started`.
   */
  /** The lookup's latency counts from `started`; its deadline is `ms` after `from` (after an open: now). */
  private runQuery(map: string, key: string, conn: ConnInfo, ms: number, started: number, from: number): Reply | Deferred<Reply> {
    let r: Reply | PromiseLike<Reply>;
    const prev = enterScope(this.scope);
    try {
      r = this.mod.query!(this.db, map, key, conn);
    } catch (err) {
      leaveScope(prev);
      return this.timed(started, this.queryFailed(err));
    }
    leaveScope(prev);
    if (typeof r === 'string') return this.timed(started, this.answered(map, key, conn, r));
    if (!isThenable(r)) return this.timed(started, this.badAnswer('query', r));
    // The answer goes to the connection through a Deferred too: no promise of smapd's own per lookup.
    const answer = new Deferred<Reply>();
    // Without an open, `from` is the start of the read that brought the request (lookupClock.start(): no
    // clock reading within a read), as for the lookup's latency; outside a read, when the query began.
    const d = this.timeoutMs > 0 ? this.deadlines.add(ms, () => answer.resolve(this.timed(started, this.timedOut())), from) : null;
    const onReply = (reply: unknown): void => {
      if (d === null || this.deadlines.remove(d)) this.give(answer, this.timed(started, this.answered(map, key, conn, reply)));
    };
    const onError = (err: unknown): void => {
      if (d === null || this.deadlines.remove(d)) this.give(answer, this.timed(started, this.queryFailed(err)));
    };
    // A Deferred hands its answer over without the promise that `then` would make for it.
    if (r instanceof Deferred) {
      r.whenSettled(onReply, onError);
    } else {
      try {
        r.then(onReply, onError);
      } catch (err) {
        onError(err);
      }
    }
    return answer;
  }

  /**
   * Pass an answer on from within the module's callback: what listens (the connection) runs as smapd's own
   * code, so that what it makes is not the module's and a throw there is smapd's (deferred.ts rethrows it).
   */
  private give(answer: Deferred<Reply>, reply: Reply): void {
    const prev = enterCore();
    answer.resolve(reply);
    leaveScope(prev);
  }

  /** What an answer of the module becomes: itself when it is a Reply (then cached), TEMP otherwise. */
  private answered(map: string, key: string, conn: ConnInfo, reply: unknown): Reply {
    if (typeof reply !== 'string' || !R.isReply(reply)) return this.badAnswer('query', reply);
    if (this.cache !== undefined) this.cache.set(map, key, conn, reply);
    return reply;
  }

  private runTransform(input: string, conn: ConnInfo, ms: number): string | null | Promise<string | null> {
    let r: string | null | Promise<string | null>;
    const prev = enterScope(this.scope);
    try {
      r = this.mod.transform!(this.db, input, conn);
    } catch (err) {
      leaveScope(prev);
      return this.transformFailed(err);
    }
    leaveScope(prev);
    if (r === null || typeof r === 'string') return r;
    if (!isThenable(r)) return this.transformFailed(new ModuleContractError(`transform answered ${describeValue(r)}; expected a string or null`));
    if (this.timeoutMs <= 0) return Promise.resolve(r).then((v) => this.transformed(v), (err: unknown) => this.transformFailed(err));
    const p = r;
    return new Promise<string | null>((resolve) => {
      const d = this.deadlines.add(ms, () => {
        this.timedOut();
        resolve(null);
      });
      p.then(
        (v) => {
          if (this.deadlines.remove(d)) resolve(this.transformed(v));
        },
        (err: unknown) => {
          if (this.deadlines.remove(d)) resolve(this.transformFailed(err));
        },
      );
    });
  }

  private transformed(v: unknown): string | null {
    if (v === null || typeof v === 'string') return v;
    return this.transformFailed(new ModuleContractError(`transform answered ${describeValue(v)}; expected a string or null`));
  }

  private timedOut(): Reply {
    this.stats.timeouts++;
    this.log.warn({ module: this.moduleId, db: this.id, timeoutMs: this.timeoutMs }, 'database query timed out');
    return TIMED_OUT_REPLY;
  }

  /** `query` answered something that is not a Reply: never sent, answered TEMP. */
  private badAnswer(what: string, value: unknown): Reply {
    return this.queryFailed(new ModuleContractError(`${what} answered ${describeValue(value)}; a module must answer with a reply made by ctx.reply`));
  }

  private queryFailed(err: unknown): Reply {
    if (isBackendTimeout(err)) {
      this.stats.timeouts++;
      this.log.warn({ module: this.moduleId, db: this.id, err: errorDetail(err) }, 'database query timed out');
      return TIMED_OUT_REPLY;
    }
    this.stats.errors++;
    this.log.error({ module: this.moduleId, db: this.id, err: errorDetail(err) }, 'database query failed');
    return FAILED;
  }

  private transformFailed(err: unknown): null {
    this.stats.errors++;
    this.log.error({ module: this.moduleId, db: this.id, err: errorDetail(err) }, 'transformation failed');
    return null;
  }

  /** Open (once, shared by concurrent callers), then run `next`; while the database cannot be opened, `onFail()`. */
  private openThen<T>(next: () => T | PromiseLike<T>, onFail: () => T): T | PromiseLike<T> {
    if (this.closed) return onFail();
    if (this.opening === null) {
      if (this.resetting !== null || Date.now() < this.retryAt) return onFail();
      const gen = ++this.generation;
      let result: unknown;
      try {
        // openDb, in scope and bounded by the database's timeout; a module without openDb opens at once.
        result = callHook(this.scope, 'openDb', this.hookMs, () => this.mod.openDb?.(this.db));
      } catch (err) {
        this.openFailed(err);
        return onFail();
      }
      if (!isThenable(result)) {
        this.openSucceeded();
        return next();
      }
      this.opening = Promise.resolve(result).then(
        () => {
          // A fault or a close since the open began: this open no longer counts.
          if (gen !== this.generation) throw new Error('superseded');
          this.openSucceeded();
        },
        (err: unknown) => {
          if (gen === this.generation) this.openFailed(err);
          throw err;
        },
      );
      this.opening.catch(() => undefined);
    }
    return this.opening.then(
      () => next(),
      () => onFail(),
    );
  }

  private openSucceeded(): void {
    this.opening = null;
    this.opened = true;
    if (this.lastOpenError !== '') this.log.info({ module: this.moduleId, db: this.id }, 'database opened after earlier failure');
    this.lastOpenError = '';
  }

  private openFailed(err: unknown): void {
    this.opening = null;
    this.stats.errors++;
    this.lastOpenError = errorDetail(err);
    this.retryAt = Date.now() + REOPEN_BACKOFF_MS;
    this.log.error({ module: this.moduleId, db: this.id, err: this.lastOpenError }, 'cannot open database');
  }

  /**
   * An error escaped the module (ModuleScope has logged it). Its state may be broken: answer TEMP, close the
   * database (a module with openDb) and open it again on a request after the back-off.
   */
  private faulted(err: unknown): void {
    if (this.closed) return;
    this.stats.errors++;
    this.generation++;
    this.opening = null;
    this.opened = false;
    this.lastOpenError = `module error: ${errorDetail(err)}`;
    this.retryAt = Date.now() + REOPEN_BACKOFF_MS;
    if (this.mod.openDb === undefined || this.resetting !== null) return;
    this.resetting = this.callClose(this.hookMs).finally(() => {
      this.resetting = null;
    });
  }
}
