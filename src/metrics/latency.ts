/**
 * A lookup latency histogram per database (`smapd_db_lookup_duration_seconds`). Recording one lookup costs a
 * short scan of a fixed bucket table and no allocation; the clock readings are shared by the lookups of a
 * read (LookupClock below), so the hot path pays next to nothing (docs/control.md gives the measured cost).
 * The buckets span 50 µs (a hit in a `file` map) to 10 s (a backend near its timeout).
 */
import { performance } from 'node:perf_hooks';

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
    this.observeMany(ms, 1);
  }

  /** Record `times` lookups that took `ms` milliseconds each. */
  observeMany(ms: number, times: number): void {
    let i = 0;
    // Most lookups fall in the first buckets, so a scan from the bottom ends after a step or two.
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
    this.counts[i]! += times;
    this.sumMs += ms * times;
    this.n += times;
  }

  snapshot(): LatencySnapshot {
    return { counts: Array.from(this.counts), sum: this.sumMs / 1000, count: this.n };
  }
}

/**
 * The clock of the lookup path, shared by every database of the process; a clock reading costs 70-140 ns on
 * the machines measured, as much as the rest of a pipelined lookup's JavaScript, so lookups share them. A
 * connection marks each read it decodes (`startRead`, `endRead`: one reading each). A lookup answered at once
 * during the read is timed with the others answered in it: at the read's end, the read's time (from the read
 * to its last answer, the core's work on its requests included) is shared out evenly among them, and each is
 * counted with its share. The count and the sum stay exact, and so do the buckets whenever a read's lookups
 * take under 50 µs together (the first bucket), which is nearly every read of a memory map; a slow lookup
 * pipelined with fast ones in one read is seen as the read's average. An asynchronous answer is timed on its
 * own, from the read (or, for a lookup started outside a read, from its start) to the answer.
 */
export class LookupClock {
  /** When the read being decoded began; -1 outside a read (performance.now() is never negative). */
  private readStart = -1;
  /**
   * The lookups answered at once in this read, as runs of one histogram: `owed[i]` got `owedTimes[i]` of
   * them in a row (a read's lookups nearly always go to one database: one run). `runs` are in use.
   */
  private readonly owed: Array<LatencyHistogram | undefined> = [];
  private readonly owedTimes: number[] = [];
  private runs = 0;
  private owedCount = 0;

  /** A read is being decoded from now on; returns the time (`performance.now()`). */
  startRead(): number {
    return (this.readStart = performance.now());
  }

  /** The read is done: its lookups answered at once are recorded, each with its share of the read's time. */
  endRead(): void {
    if (this.runs > 0) {
      const each = (performance.now() - this.readStart) / this.owedCount;
      for (let i = 0; i < this.runs; i++) {
        this.owed[i]!.observeMany(each, this.owedTimes[i]!);
        this.owed[i] = undefined;
      }
      this.runs = 0;
      this.owedCount = 0;
    }
    this.readStart = -1;
  }

  /** When a lookup that starts now is taken to start: the read's start, or now outside a read. */
  start(): number {
    return this.readStart >= 0 ? this.readStart : performance.now();
  }

  /** A lookup that started at `started` is answered now; it goes into `histogram` now or at the read's end. */
  answered(histogram: LatencyHistogram, started: number): void {
    if (this.readStart < 0) {
      histogram.observe(performance.now() - started);
      return;
    }
    this.owedCount++;
    const last = this.runs - 1;
    if (last >= 0 && this.owed[last] === histogram) {
      this.owedTimes[last]!++;
    } else {
      this.owed[this.runs] = histogram;
      this.owedTimes[this.runs++] = 1;
    }
  }
}

export const lookupClock = new LookupClock();

/** The sum of several processes' histograms (workers mode); undefined when none has one. */
export function mergeLatency(a: LatencySnapshot | undefined, b: LatencySnapshot | undefined): LatencySnapshot | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)), sum: a.sum + b.sum, count: a.count + b.count };
}
