/**
 * An answer to come, settled by whoever holds it: what a module may return from `query` instead of a promise
 * when its answer arrives in a callback (a reply read from a backend's socket). smapd's handle takes the
 * answer from it directly, so the lookup makes no promise: on Node 20 every promise runs the promise hooks of
 * the module scope (scope.ts), and a forwarding module that makes four or five of them per lookup spends
 * more on them than on its own work.
 *
 * It is a `PromiseLike`: `await` and `then` work as on a promise (they make one, for that caller only).
 * The listeners that `whenSettled` adds run synchronously when the deferred settles (or at once when it has),
 * in the order they were added; a listener's throw does not reach the code that settled it, it is thrown
 * again from a microtask (an uncaught error, blamed on the module as any error escaping its callbacks).
 */

import { rethrowLater } from '../client/replies.js';

type Listener<T> = { onValue(value: T): void; onError(err: unknown): void };

const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;

export class Deferred<T> implements PromiseLike<T> {
  private state: typeof PENDING | typeof FULFILLED | typeof REJECTED = PENDING;
  private result: unknown = undefined;
  /** The first listener in fields (the usual case: smapd's own, and no other); further ones in `more`. */
  private onValue: ((value: T) => void) | null = null;
  private onError: ((err: unknown) => void) | null = null;
  private more: Listener<T>[] | null = null;

  /** True once `resolve` or `reject` has been called. */
  get settled(): boolean {
    return this.state !== PENDING;
  }

  /** Settle with `value`; a deferred settles once, later calls are ignored (as for a promise). */
  resolve(value: T): void {
    if (this.state !== PENDING) return;
    this.state = FULFILLED;
    this.result = value;
    this.notify();
  }

  /** Settle with an error, as a rejected promise would. */
  reject(err: unknown): void {
    if (this.state !== PENDING) return;
    this.state = REJECTED;
    this.result = err;
    this.notify();
  }

  /** Call `onValue` or `onError`, once: when the deferred settles, or at once if it has. No promise is made. */
  whenSettled(onValue: (value: T) => void, onError: (err: unknown) => void): void {
    if (this.state !== PENDING) {
      this.call(onValue, onError);
    } else if (this.onValue === null) {
      this.onValue = onValue;
      this.onError = onError;
    } else {
      (this.more ??= []).push({ onValue, onError });
    }
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return new Promise<T>((resolve, reject) => this.whenSettled(resolve, reject)).then(onFulfilled, onRejected);
  }

  private notify(): void {
    const onValue = this.onValue;
    const onError = this.onError;
    const more = this.more;
    this.onValue = this.onError = null;
    this.more = null;
    if (onValue !== null) this.call(onValue, onError!);
    if (more !== null) for (const l of more) this.call(l.onValue, l.onError);
  }

  private call(onValue: (value: T) => void, onError: (err: unknown) => void): void {
    try {
      if (this.state === FULFILLED) onValue(this.result as T);
      else onError(this.result);
    } catch (err) {
      rethrowLater(err);
    }
  }
}
