/**
 * Which module, and which of its databases, the running code belongs to. smapd enters a module's scope around
 * every call into the module (hooks, `query`, `transform`, commands); Node carries the scope on to every timer,
 * callback and promise that the call creates (AsyncLocalStorage), so an error that escapes the module later,
 * from a timer or a forgotten rejected promise, reaches the process handler (src/server/fault-handlers.ts)
 * still knowing whom to blame. The handler then calls `fault`: the error is logged with the module and
 * database id, the database answers `TEMP` until it has recovered, and the daemon goes on.
 *
 * Limits: a callback runs in the scope where its async resource was made. A listener that a module adds to an
 * emitter the core owns runs in the core's scope, and an error thrown there is not the module's (it stops the
 * daemon, as any error of smapd's own does). Code that blocks the event loop cannot be stopped by any scope.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import { errorDetail } from '../errors.js';

/** At most one fault line per scope in this interval; the rest are counted and reported with the next one. */
const FAULT_LOG_INTERVAL_MS = 1000;

export class ModuleScope {
  /** What the owner does besides logging; a database handle closes and reopens itself. */
  onFault: ((err: unknown) => void) | undefined = undefined;
  private lastLogged = 0;
  private suppressed = 0;

  constructor(
    readonly moduleId: string,
    readonly dbId: string | undefined,
    private readonly log: Logger,
  ) {}

  /** An error escaped the module's code (`origin`: uncaughtException or unhandledRejection). Never throws. */
  fault(err: unknown, origin: string): void {
    const now = Date.now();
    if (now - this.lastLogged >= FAULT_LOG_INTERVAL_MS) {
      const stack = err instanceof Error ? err.stack : undefined;
      this.log.error(
        { module: this.moduleId, db: this.dbId, origin, err: errorDetail(err), stack, suppressed: this.suppressed || undefined },
        this.dbId === undefined ? 'module error outside a call; the module goes on' : 'module error outside a call; database reopens',
      );
      this.lastLogged = now;
      this.suppressed = 0;
    } else {
      this.suppressed++;
    }
    try {
      this.onFault?.(err);
    } catch (e) {
      this.log.error({ module: this.moduleId, db: this.dbId, err: errorDetail(e) }, 'error while recovering from a module error');
    }
  }
}

const storage = new AsyncLocalStorage<ModuleScope>();

/** The scope of the running code, or undefined for smapd's own code. */
export function currentScope(): ModuleScope | undefined {
  return storage.getStore();
}

/** Run `fn` in `scope` (hooks and other calls off the hot path). */
export function inScope<T>(scope: ModuleScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/**
 * Enter `scope` for one synchronous call on the hot path without allocating (no closure, no argument array);
 * pass the result to `leaveScope` right after the call, on every path.
 */
export function enterScope(scope: ModuleScope): ModuleScope | undefined {
  const prev = storage.getStore();
  storage.enterWith(scope);
  return prev;
}

export function leaveScope(prev: ModuleScope | undefined): void {
  storage.enterWith(prev as ModuleScope);
}
