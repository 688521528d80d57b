/**
 * A read-only string → string table held in a few big typed arrays instead of a `Map` of strings: records
 * (`keyLength`, `valueLength·2 + kind` as varints, key bytes, value bytes; compact-codec.ts says how strings
 * become bytes) in Buffers (segments) of up to 16 MiB, and an open-addressing hash index (linear probing, at
 * most half full) of `(hash, record address)` pairs in Int32Arrays.
 *
 * Nothing is ever copied whole while a table is built, so building one in slices between lookups never holds
 * the event loop for long: records go into a new segment when one is full (64 KiB first, each twice the
 * last up to 16 MiB, so small maps stay small), and the index is split by the top 6 bits of the hash into 64
 * parts that double on their own (a rehash moves 1/64 of the entries: 16,000 for a 1M-entry map, where one
 * index moved 500,000 in 30–180 ms).
 *
 * Why: a 1M-entry `Map` of short strings is 2M heap objects plus the Map's own store, about 200 bytes an entry
 * in all, and every full garbage collection marks them all (a pause of 60–250 ms while a reload builds the
 * next map). Here an entry costs its bytes, two varints and 16–32 bytes of index, and the collector sees a
 * hundred objects whatever the size. The price is paid per hit: the value is decoded into a new string (by
 * one native call unless it holds escaped bytes), and the request key is hashed and compared in JS, without
 * a Buffer.
 *
 * Build with `CompactTableBuilder` (`set` in any number of steps, then `finish`); the table never changes
 * after that, so a reader swapped to a new table sees one whole version.
 */
import { BackendError } from '../errors.js';
import {
  generalLength,
  hashKey,
  keyEquals,
  readGeneral,
  valueKind,
  VALUE_UTF8,
  writeGeneral,
} from './compact-codec.js';

/** What a lookup needs of a key → value table: a `Map<string, string>` is one too. */
export interface StringTable {
  readonly size: number;
  get(key: string): string | undefined;
}

/** Records are addressed as `segment << 24 | offset`, plus 1 so that 0 marks an empty index slot. */
const SEGMENT_BITS = 24;
const SEGMENT_BYTES = 1 << SEGMENT_BITS;
const OFFSET_MASK = SEGMENT_BYTES - 1;
/** Addresses + 1 must stay below 2^31: 127 segments, about 1.9 GiB of records (the first 8 are smaller). */
const MAX_SEGMENTS = 127;
const FIRST_SEGMENT_BYTES = 1 << 16;
/** The index is split by the top PART_BITS of the hash; each part is a power of two of slots. */
const PART_BITS = 6;
const PARTS = 1 << PART_BITS;
const PART_SHIFT = 32 - PART_BITS;
const MIN_PART_SLOTS = 8;
/** Room for two varints of up to 2^35. */
const HEADER_MAX = 10;

/** The offset after the varint at `buf[at]` (written by `writeVarint`). */
function varintEnd(buf: Uint8Array, at: number): number {
  while (buf[at]! >= 0x80) at++;
  return at + 1;
}

/** The value of the varint at `buf[at]`. */
function varintValue(buf: Uint8Array, at: number): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[at++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return value;
    scale *= 128;
  }
}

function writeVarint(buf: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    buf[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[at++] = value;
  return at;
}

function emptyParts(): Int32Array[] {
  return Array.from({ length: PARTS }, () => new Int32Array(2 * MIN_PART_SLOTS));
}

/**
 * The slot of `key` in `part` (the index part of its hash): the one holding it, or the empty one where it
 * would go. A slot is two ints: the hash, and the record's address + 1.
 */
function findSlot(part: Int32Array, segments: readonly Buffer[], key: string, hash: number): number {
  const mask = (part.length >> 1) - 1;
  let slot = hash & mask;
  for (;;) {
    const ref = part[2 * slot + 1]!;
    if (ref === 0) return slot;
    if (part[2 * slot] === hash) {
      const data = segments[(ref - 1) >>> SEGMENT_BITS]!;
      const at = (ref - 1) & OFFSET_MASK;
      const keyStart = varintEnd(data, varintEnd(data, at));
      if (keyEquals(key, data, keyStart, varintValue(data, at))) return slot;
    }
    slot = (slot + 1) & mask;
  }
}

export class CompactTable implements StringTable {
  /** Made by `CompactTableBuilder.finish`. */
  constructor(
    private readonly segments: readonly Buffer[],
    private readonly parts: readonly Int32Array[],
    /** The number of distinct keys. */
    readonly size: number,
  ) {}

  /** Bytes held: records and index (what the table adds to the process's memory, untouched space aside). */
  get byteLength(): number {
    let n = 0;
    for (const s of this.segments) n += s.length;
    for (const p of this.parts) n += p.byteLength;
    return n;
  }

  get(key: string): string | undefined {
    const hash = hashKey(key);
    const part = this.parts[hash >>> PART_SHIFT]!;
    const ref = part[2 * findSlot(part, this.segments, key, hash) + 1]!;
    if (ref === 0) return undefined;
    const data = this.segments[(ref - 1) >>> SEGMENT_BITS]!;
    const at = (ref - 1) & OFFSET_MASK;
    const lengthsAt = varintEnd(data, at);
    const field = varintValue(data, lengthsAt);
    const start = varintEnd(data, lengthsAt) + varintValue(data, at);
    const end = start + Math.floor(field / 2);
    return (field & 1) === VALUE_UTF8 ? data.toString('utf8', start, end) : readGeneral(data, start, end);
  }
}

/** Fills a `CompactTable`; `set` as often as needed (the last value of a key wins), then `finish` once. */
export class CompactTableBuilder {
  /** Segment buffers by number; the last one is being filled. */
  private segments: Buffer[] = [Buffer.allocUnsafeSlow(FIRST_SEGMENT_BYTES)];
  /** Where the next record goes in the last segment. */
  private used = 0;
  private parts = emptyParts();
  /** Entries per index part; a part doubles when it would be more than half full. */
  private readonly partCounts = new Int32Array(PARTS);
  private count = 0;

  /** The number of distinct keys so far. */
  get size(): number {
    return this.count;
  }

  /** Add an entry, or replace the value of a key added before (then returns true). */
  set(key: string, value: string): boolean {
    const hash = hashKey(key);
    const partNo = hash >>> PART_SHIFT;
    const part = this.parts[partNo]!;
    const slot = findSlot(part, this.segments, key, hash);
    const replaced = part[2 * slot + 1] !== 0;
    const keyBytes = generalLength(key);
    const kind = valueKind(value);
    const valueBytes = kind === VALUE_UTF8 ? Buffer.byteLength(value, 'utf8') : generalLength(value);
    this.reserve(HEADER_MAX + keyBytes + valueBytes);
    const segmentNo = this.segments.length - 1;
    const data = this.segments[segmentNo]!;
    const at = this.used;
    let o = writeVarint(data, at, keyBytes);
    o = writeVarint(data, o, valueBytes * 2 + kind);
    o = writeGeneral(key, data, o);
    if (kind === VALUE_UTF8) o += data.write(value, o, valueBytes, 'utf8');
    else o = writeGeneral(value, data, o);
    this.used = o;
    // A replaced key keeps its slot; its old record stays behind, unreferenced.
    part[2 * slot] = hash;
    part[2 * slot + 1] = ((segmentNo << SEGMENT_BITS) | at) + 1;
    if (!replaced) {
      this.count++;
      if (++this.partCounts[partNo]! * 4 > part.length) this.parts[partNo] = grown(part);
    }
    return replaced;
  }

  /** The table; the builder must not be used after this. */
  finish(): CompactTable {
    // The last segment's unused tail is address space only until written: it is not copied away.
    const table = new CompactTable(this.segments, this.parts, this.count);
    this.segments = [Buffer.allocUnsafeSlow(FIRST_SEGMENT_BYTES)];
    this.used = 0;
    this.parts = emptyParts();
    this.partCounts.fill(0);
    this.count = 0;
    return table;
  }

  /** Make room for a record of up to `bytes` in the last segment, or start a new one (twice the last's size). */
  private reserve(bytes: number): void {
    const current = this.segments[this.segments.length - 1]!;
    // A record must start at an offset that an address can hold (after an outsize entry, it may not).
    if (this.used + bytes <= current.length && this.used < SEGMENT_BYTES) return;
    if (this.segments.length === MAX_SEGMENTS) {
      throw new BackendError('the map is too large: its keys and values take more than 1.9 GiB');
    }
    // An entry bigger than a segment gets a segment of its own size.
    this.segments.push(Buffer.allocUnsafeSlow(Math.max(bytes, Math.min(SEGMENT_BYTES, current.length * 2))));
    this.used = 0;
  }
}

/** `part` with twice the slots, each entry placed by its kept hash. */
function grown(part: Int32Array): Int32Array {
  const next = new Int32Array(part.length * 2);
  const mask = (next.length >> 1) - 1;
  for (let i = 0; i < part.length; i += 2) {
    const ref = part[i + 1]!;
    if (ref === 0) continue;
    let slot = part[i]! & mask;
    while (next[2 * slot + 1] !== 0) slot = (slot + 1) & mask;
    next[2 * slot] = part[i]!;
    next[2 * slot + 1] = ref;
  }
  return next;
}
