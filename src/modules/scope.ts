/**
 * Which module, and which of its databases, the running code belongs to. smapd enters a module's scope around
 * every call into the module (hooks, `query`, `transform`, commands); the scope is carried on to every timer,
 * callback and promise that the call creates, so an error that escapes the module later, from a timer or a
 * forgotten rejected promise, reaches the process handler (src/server/fault-handlers.ts) still knowing whom to
 * blame. The handler then calls `fault`: the error is logged with the module and database id, the database
 * answers `TEMP` until it has recovered, and the daemon goes on.
 *
 * How it is carried: while a call into a module runs, `entered` names its scope (a plain variable, so that
 * entering costs no more than an assignment on the lookup path); an async_hooks `init` hook tags each async
 * resource made meanwhile (timer, socket, promise) with that scope, and a resource made later by code that
 * runs for a tagged resource inherits its tag. This is what `AsyncLocalStorage` does on Node 20, without its
 * two property writes on the running resource per call, and without tagging the resources of smapd's own code
 * at all (most of them: its socket writes, its promises).
 *
 * Limits: a callback runs in the scope where its async resource was made. A listener that a module adds to an
 * emitter the core owns runs in the core's scope, and an error thrown there is not the module's (it stops the
 * daemon, as any error of smapd's own does). Code that blocks the event loop cannot be stopped by any scope.
 * On Node 20, any `init` hook makes Node run its promise hooks for every promise of the process; that costs
 * an asynchronous lookup up to about 15% more CPU (docs/performance.md, "What the hardening round costs").
 */
import { createHook, executionAsyncResource } from 'node:async_hooks';
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

/** The property under which an async resource carries the scope it was made in. */
const SCOPE = Symbol('smapd.moduleScope');

interface Tagged {
  [SCOPE]?: ModuleScope;
}

/**
 * The scope of the synchronous call under way: a module's while smapd calls into it; null while smapd's own
 * code runs from within a module's callback (enterCore); undefined otherwise: then the running callback's
 * resource says.
 */
export type EnteredScope = ModuleScope | null | undefined;
let entered: EnteredScope;
let hooked = false;

/** The scope the running callback belongs to, from the resource it runs for (undefined: smapd's own). */
function resourceScope(): ModuleScope | undefined {
  return (executionAsyncResource() as Tagged)[SCOPE];
}

const carry = createHook({
  init(_asyncId, _type, _triggerId, resource: object): void {
    const scope = entered === undefined ? resourceScope() : entered;
    // smapd's own resources stay untagged: no property added to every socket write and promise of the core.
    if (scope != null) (resource as Tagged)[SCOPE] = scope;
  },
});

function startCarrying(): void {
  hooked = true;
  carry.enable();
}

/** The scope of the running code, or undefined for smapd's own code. */
export function currentScope(): ModuleScope | undefined {
  if (entered !== undefined) return entered ?? undefined;
  return hooked ? resourceScope() : undefined;
}

/** Run `fn` in `scope` (hooks and other calls off the hot path). */
export function inScope<T>(scope: ModuleScope, fn: () => T): T {
  if (!hooked) startCarrying();
  const prev = entered;
  entered = scope;
  try {
    return fn();
  } finally {
    entered = prev;
  }
}

/**
 * Enter `scope` for one synchronous call on the hot path (two assignments, no closure); pass the result to
 * `leaveScope` right after the call, on every path.
 */
export function enterScope(scope: ModuleScope): EnteredScope {
  if (!hooked) startCarrying();
  const prev = entered;
  entered = scope;
  return prev;
}

/**
 * Run smapd's own code from within a module's callback (the handle passing a module's answer on to the
 * connection, synchronously, from the module's socket callback): what it makes (a microtask, a socket write)
 * belongs to no module, and an error it throws is smapd's. Pass the result to `leaveScope`, on every path.
 */
export function enterCore(): EnteredScope {
  const prev = entered;
  entered = null;
  return prev;
}

export function leaveScope(prev: EnteredScope): void {
  entered = prev;
}
