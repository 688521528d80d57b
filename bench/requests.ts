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

/** `count` requests for `map`, keys drawn uniformly (with replacement) from `keys`. */
export function buildStream(map: string, keys: readonly string[], count: number, seed: number): RequestStream {
  if (keys.length === 0) throw new Error('no keys to query');
  const random = seededRandom(seed);
  const frames: Buffer[] = new Array(count);
  const offsets = new Int32Array(count + 1);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(`${map} ${keys[Math.floor(random() * keys.length)]!}`, 'utf8');
    const frame = Buffer.concat([Buffer.from(`${payload.length}:`, 'latin1'), payload, Buffer.from(',')]);
    frames[i] = frame;
    offsets[i] = total;
    total += frame.length;
  }
  offsets[count] = total;
  return { buf: Buffer.concat(frames, total), offsets, count };
}
