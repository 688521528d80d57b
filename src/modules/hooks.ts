/**
 * Module calls with a deadline. Every lifecycle hook gets one, as in Haraka and fastify: a hook that never
 * finishes must not hang a start, a config check, a reload or a stop. The hook itself cannot be stopped; smapd
 * stops waiting for it, and `onLate` may clean up what it returns after all.
 */
import { HookTimeoutError } from '../errors.js';
import { inScope, type ModuleScope } from './scope.js';

/** How long `init` and `initDb` may take (they parse arguments; `smapd -t` and every reload run them). */
export const INIT_TIMEOUT_MS = 30_000;
/** The least time a stop gives closeDb/done, even with `shutdown-timeout 0`. */
export const MIN_CLOSE_BUDGET_MS = 1000;

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Wait for `p` at most `ms` (0 or less: not at all; Infinity: as long as it takes). Rejects with HookTimeoutError(`what` did not finish …) when
 * the time is up; `onLate` then gets the value if `p` fulfils later.
 */
export function withDeadline<T>(p: PromiseLike<T>, ms: number, what: string, onLate?: (value: T) => void): Promise<T> {
  if (ms === Infinity) return Promise.resolve(p);
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new HookTimeoutError(`${what} did not finish within ${ms} ms`));
    }, Math.max(0, ms));
    p.then(
      (v) => {
        clearTimeout(timer);
        if (!expired) resolve(v);
        else onLate?.(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!expired) reject(err);
      },
    );
  });
}

/**
 * Call a hook in `scope` and wait for it at most `ms`. A synchronous hook answers at once (its throw
 * propagates); an asynchronous one is bounded by `withDeadline`.
 */
export function callHook<T>(
  scope: ModuleScope,
  what: string,
  ms: number,
  fn: () => T | PromiseLike<T>,
  onLate?: (value: T) => void,
): T | Promise<T> {
  const r = inScope(scope, fn);
  return isThenable(r) ? withDeadline(r, ms, what, onLate) : r;
}
