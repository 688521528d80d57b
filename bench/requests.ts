/**
 * Requests for the load generator, encoded before the clock starts: one Buffer holding a long sequence of
 * `LEN:MAP KEY,` frames for randomly drawn keys, with the frame boundaries alongside. A connection walks the
 * sequence from its own starting point, so any run of consecutive requests it sends in one write is a single
 * zero-copy slice of that Buffer.
 */
import { readFileSync } from 'node:fs';

export interface RequestStream {
  readonly buf: Buffer;
  /** Byte offset of frame i; `offsets[count]` is the end of the last one. */
  readonly offsets: Int32Array;
  readonly count: number;
}

/** The keys of a `key value` text map: the first word of each line that is not blank or a comment. */
export function readKeys(file: string): string[] {
  const keys: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([^\s#]\S*)/.exec(line);
    if (m) keys.push(m[1]!);
  }
  return keys;
}

/** A small seeded generator (mulberry32): every run draws the same keys, so runs compare like with like. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A draw of key indexes in [0, n) by Zipf's law with exponent `s`: index i comes with weight 1/(i+1)^s, so a
 * few keys are asked very often and most rarely, as recipients and senders are in real mail.
 */
export function zipfDraw(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * `count` requests for `map`, keys drawn (with replacement) from `keys`: uniformly, or by Zipf's law with
 * exponent `zipf` (the keys in their order, the first the most asked).
 */
export function buildStream(map: string, keys: readonly string[], count: number, seed: number, zipf?: number): RequestStream {
  if (keys.length === 0) throw new Error('no keys to query');
  const uniform = seededRandom(seed);
  const skewed = zipf !== undefined && zipf > 0 ? zipfDraw(keys.length, zipf, uniform) : undefined;
  const pick = skewed ?? (() => Math.floor(uniform() * keys.length));
  const frames: Buffer[] = new Array(count);
  const offsets = new Int32Array(count + 1);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(`${map} ${keys[pick()]!}`, 'utf8');
    const frame = Buffer.concat([Buffer.from(`${payload.length}:`, 'latin1'), payload, Buffer.from(',')]);
    frames[i] = frame;
    offsets[i] = total;
    total += frame.length;
  }
  offsets[count] = total;
  return { buf: Buffer.concat(frames, total), offsets, count };
}
