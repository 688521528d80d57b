/**
 * A lookup latency histogram per database (`smapd_db_lookup_duration_seconds`). Recording one lookup costs
 * one clock reading (LookupClock below) and a short scan of a fixed bucket table, with no allocation: the hot
 * path pays next to nothing (docs/control.md gives the measured cost). The buckets span 50 µs (a hit in a
 * `file` map) to 10 s (a backend near its timeout).
 */

/** Upper bounds of the buckets, in seconds (Prometheus `le`); a last `+Inf` bucket is implied. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

const BOUNDS_MS = LATENCY_BUCKETS_SECONDS.map((s) => s * 1000);

/** The histogram's numbers as plain data: what a worker sends the primary, and what the exposition reads. */
export interface LatencySnapshot {
  /** Lookups per bucket, not cumulative; one more entry than LATENCY_BUCKETS_SECONDS (the +Inf bucket). */
  readonly counts: readonly number[];
  /** Sum of all durations, in seconds. */
  readonly sum: number;
  readonly count: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BOUNDS_MS.length + 1);
  private sumMs = 0;
  private n = 0;

  /** Record one lookup that took `ms` milliseconds (a difference of two `performance.now()` readings). */
  observe(ms: number): void {
    let i = 0;
    // Most lookups fall in the first buckets, so a scan from the bottom ends after a step or two.
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
    this.sumMs += ms;
    this.n++;
  }

  snapshot(): LatencySnapshot {
    return { counts: Array.from(this.counts), sum: this.sumMs / 1000, count: this.n };
  }
}

/**
 * The clock of the lookup path, shared by every database of the process. A connection marks the start of each
 * read it decodes (`startRead`, `endRead`); a lookup started during that read is timed from the latest mark,
 * and the clock reading that ends it becomes the next mark. So each lookup costs one clock reading, not two,
 * and its time includes the core's work on its request since the previous lookup of the read (decoding,
 * splitting, a transform: a fraction of a microsecond, far below the first bucket). A lookup started outside a
 * read (after an async transform, or called directly) reads the clock at its start as well.
 */
export class LookupClock {
  /** The latest mark of the read being decoded; -1 outside a read (performance.now() is never negative). */
  private mark = -1;

  /** A read is being decoded from now on; returns the time (`performance.now()`). */
  startRead(): number {
    return (this.mark = performance.now());
  }

  endRead(): void {
    this.mark = -1;
  }

  /** When the lookup that starts now is taken to start. */
  start(): number {
    return this.mark >= 0 ? this.mark : performance.now();
  }

  /** A lookup that started at `started` has its answer now: how long it took, in ms. */
  lap(started: number): number {
    const now = performance.now();
    if (this.mark >= 0) this.mark = now;
    return now - started;
  }
}

export const lookupClock = new LookupClock();

/** The sum of several processes' histograms (workers mode); undefined when none has one. */
export function mergeLatency(a: LatencySnapshot | undefined, b: LatencySnapshot | undefined): LatencySnapshot | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)), sum: a.sum + b.sum, count: a.count + b.count };
}
