/**
 * The deadlines of a database's asynchronous lookups, watched by one timer for all of them instead of a
 * timer (and a Promise.race) per lookup. Lookups mostly share one timeout, so they join a list that is
 * already in deadline order by appending; the timer is armed for the first deadline and, when it fires,
 * expires every lookup whose deadline has passed and re-arms for the next one. A lookup that answers in time
 * leaves the list in O(1).
 *
 * Timing: a lookup expires no earlier than its deadline (a monotonic clock, `performance.now()`), and at most
 * about a millisecond plus the event loop's delay after it, as with a timer of its own.
 */
import { performance } from 'node:perf_hooks';

/** One waiting lookup; `remove` it when its answer comes. */
export class Deadline {
  prev: Deadline | null = null;
  next: Deadline | null = null;
  /** Still waiting: neither removed nor expired. */
  live = true;

  constructor(
    readonly at: number,
    readonly onExpire: () => void,
  ) {}
}

export class DeadlineList {
  private head: Deadline | null = null;
  private tail: Deadline | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (performance.now() time). */
  private armedAt = Infinity;
  private readonly fire = () => this.sweep();

  /** Lookups waiting (for the tests and the metrics). */
  size = 0;

  /**
   * Wait at most `ms` (at least 1) from `from` (a performance.now() time, default now: a caller that has a
   * reading of this moment passes it, to save a clock reading per lookup); `onExpire` runs once the time is
   * up, unless `remove` came first.
   */
  add(ms: number, onExpire: () => void, from = performance.now()): Deadline {
    const d = new Deadline(from + Math.max(ms, 1), onExpire);
    // Walk back past later deadlines: none for the usual lookup (all share the database's timeout), a few
    // for a lookup that waited for the open and so has less time left.
    let after = this.tail;
    while (after !== null && after.at > d.at) after = after.prev;
    d.prev = after;
    d.next = after === null ? this.head : after.next;
    if (d.next !== null) d.next.prev = d;
    else this.tail = d;
    if (after !== null) after.next = d;
    else this.head = d;
    if (this.size++ === 0 && this.timer !== undefined) this.timer.ref();
    if (d.at < this.armedAt) this.arm(d.at);
    return d;
  }

  /** The answer came: stop watching. False when the lookup had already expired (the answer is late). */
  remove(d: Deadline): boolean {
    if (!d.live) return false;
    this.unlink(d);
    // An armed timer is left to fire (it finds nothing due and re-arms or stops) rather than cleared and set
    // again per lookup; it holds the process only while lookups wait.
    if (this.size === 0 && this.timer !== undefined) this.timer.unref();
    return true;
  }

  private unlink(d: Deadline): void {
    d.live = false;
    if (d.prev !== null) d.prev.next = d.next;
    else this.head = d.next;
    if (d.next !== null) d.next.prev = d.prev;
    else this.tail = d.prev;
    d.prev = d.next = null;
    this.size--;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - performance.now())));
  }

  private sweep(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = performance.now();
    while (this.head !== null && this.head.at <= now) {
      const d = this.head;
      this.unlink(d);
      d.onExpire();
    }
    if (this.head !== null) this.arm(this.head.at);
  }
}
