/**
 * A fixed-size log-linear latency histogram. Recording is one index computation and one increment into a
 * preallocated Uint32Array, so measuring does not allocate or disturb the GC of the process doing the
 * measuring. Values are kept in units of 100 ns; each power-of-two range is split into 128 buckets, so a
 * reported percentile is within 0.8% of the true value (and exact below 25.6 µs). The maximum is kept exactly.
 */

/** Resolution of the buckets: 10 units per microsecond. */
const UNITS_PER_MS = 10_000;
/** Values below this are their own bucket (linear part). */
const LINEAR = 256;
const HALF = LINEAR / 2;
const HALF_BITS = 7;
/** 2^31 units = 214 s; anything slower lands in the last bucket (and is still exact in `maxMs`). */
const MAX_UNITS = 0x7fffffff;
const BUCKETS = LINEAR + (31 - HALF_BITS) * HALF;

function indexOf(units: number): number {
  if (units < LINEAR) return units;
  const msb = 31 - Math.clz32(units);
  const shift = msb - HALF_BITS;
  return LINEAR + (shift - 1) * HALF + ((units >>> shift) - HALF);
}

/** The middle of a bucket, in units; the linear buckets are exact. */
function valueOf(index: number): number {
  if (index < LINEAR) return index;
  const shift = ((index - LINEAR) >> HALF_BITS) + 1;
  const top = ((index - LINEAR) & (HALF - 1)) + HALF;
  return top * 2 ** shift + 2 ** (shift - 1);
}

/** What a histogram travels as between processes (IPC is JSON). */
export interface HistogramData {
  readonly counts: number[];
  readonly maxMs: number;
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;
  private max = 0;

  /** Record one latency in milliseconds. */
  record(ms: number): void {
    let units = Math.round(ms * UNITS_PER_MS);
    if (units < 0) units = 0;
    else if (units > MAX_UNITS) units = MAX_UNITS;
    this.counts[indexOf(units)]!++;
    this.total++;
    if (ms > this.max) this.max = ms;
  }

  get count(): number {
    return this.total;
  }

  get maxMs(): number {
    return this.max;
  }

  /** The latency (ms) below which `p` percent of the recorded values lie; 0 when empty. */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i) / UNITS_PER_MS, this.max);
    }
    return this.max;
  }

  /** Sparse form for IPC: most of the buckets are empty. */
  toData(): HistogramData {
    const counts: number[] = [];
    for (let i = 0; i < BUCKETS; i++) {
      if (this.counts[i] !== 0) counts.push(i, this.counts[i]!);
    }
    return { counts, maxMs: this.max };
  }

  static fromData(data: HistogramData): Histogram {
    const h = new Histogram();
    for (let j = 0; j < data.counts.length; j += 2) {
      const n = data.counts[j + 1]!;
      h.counts[data.counts[j]!]! += n;
      h.total += n;
    }
    h.max = data.maxMs;
    return h;
  }
}
