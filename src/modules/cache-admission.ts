/**
 * The result cache's admission policy: whether the answer to a miss is worth an entry in a full cache.
 *
 * A full cache pays for each new entry with an eviction, a key string, an entry object and a `Map` slot,
 * and the young-generation collector copies the strings once or twice before the entry dies. When most
 * lookups miss (keys drawn from a set much larger than the cache), those costs come on almost every lookup
 * and outweigh the few hits: over a fast backend a full cache under random keys cost more than it saved
 * (0.83x of no cache, docs/performance.md). So while the hit ratio of the recent lookups is low, only a
 * random sample of the misses (1 in `oneIn`, doubling each window up to `MAX_ONE_IN`) gets an entry; once
 * the hit ratio is high again, `oneIn` halves each window down to 1 (every miss admitted).
 *
 * Under uniformly random keys the hit ratio of a full cache is the share of the keys it holds, whichever keys
 * those are, so sampling keeps the hit ratio and divides the insert, evict and collector work by `oneIn`. A
 * key that is asked again and again is admitted after about `oneIn` of its misses, so a new hot key is still
 * cached quickly. What sampling loses is a key asked only two or three times in quick succession among many
 * keys asked once; such a stream has a low hit ratio to begin with.
 *
 * A TinyLFU-style doorkeeper (admit on the second miss, remembered in a small bloom filter) was the other
 * candidate; it needs a hash of every missed key computed in JavaScript, and it too turns away the second
 * ask of a key asked twice.
 */

/** Lookups per adaptation window. */
export const ADMISSION_WINDOW = 4096;
/** Below this hit ratio over a window, the next window admits half as many misses. */
export const LOW_HIT_RATIO = 0.25;
/**
 * At or above this hit ratio, twice as many. In between the sample holds: sampling itself can lift the hit
 * ratio (a sampled cache keeps what it holds instead of churning through a stream longer than it is), and
 * going back to every miss at once would only churn it down again.
 */
export const HIGH_HIT_RATIO = 0.5;
/** The sparsest sample: one miss in this many is admitted. A power of two (the draw masks with it). */
export const MAX_ONE_IN = 32;

export class AdmissionSampler {
  /** Admit one miss in this many (a power of two); 1 admits all. */
  private oneIn = 1;
  /** xorshift32 state: a fixed seed, so a test replays. */
  private x = 0x9e3779b9;
  /** Lookups (hits + misses) counted when the current window began, and hits then. */
  private windowLookups = 0;
  private windowHits = 0;
  admitted = 0;
  declined = 0;

  /** The current sampling rate, for the stats. */
  get admitOneIn(): number {
    return this.oneIn;
  }

  /**
   * Whether the answer to a miss gets an entry. `full` says an entry would have to be evicted for it; a cache
   * with room admits everything (nothing is evicted, and a fresh cache fills as fast as before).
   */
  admit(full: boolean): boolean {
    if (!full || this.oneIn === 1) {
      this.admitted++;
      return true;
    }
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x;
    if ((x & (this.oneIn - 1)) === 0) {
      this.admitted++;
      return true;
    }
    this.declined++;
    return false;
  }

  /**
   * The end of a window of `ADMISSION_WINDOW` lookups: `hits` and `lookups` are the cache's running totals,
   * from which the window's hit ratio is taken. A low one halves the share of misses admitted, a high one
   * doubles it (up to all).
   */
  windowEnded(hits: number, lookups: number): void {
    const ratio = (hits - this.windowHits) / (lookups - this.windowLookups);
    if (ratio < LOW_HIT_RATIO) this.oneIn = Math.min(this.oneIn * 2, MAX_ONE_IN);
    else if (ratio >= HIGH_HIT_RATIO && this.oneIn > 1) this.oneIn >>= 1;
    this.windowHits = hits;
    this.windowLookups = lookups;
  }

  /** Forget the window and sample (the cache was emptied). */
  reset(hits: number, lookups: number): void {
    this.oneIn = 1;
    this.windowHits = hits;
    this.windowLookups = lookups;
  }
}
