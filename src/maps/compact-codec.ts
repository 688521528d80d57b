/**
 * How a `CompactTable` (compact-table.ts) keeps strings as bytes, and compares and hashes a JS string against
 * them without making a Buffer or a string per lookup.
 *
 * Keys are stored as the generalized UTF-8 of their UTF-16 code units: a surrogate pair as the 4 bytes of its
 * code point, any other unit (a lone surrogate included, such as the escapes src/protocol/bytes.ts makes for
 * bytes that are not UTF-8) as the 1–3 bytes of its value. That is plain UTF-8 for well-formed text, and it is
 * one-to-one on all JS strings, so two keys are equal as bytes exactly when they are equal as strings: the
 * table answers what a `Map` of the same strings would.
 *
 * Values are stored as UTF-8 when the string is well-formed (decoded by one native call, which V8 makes a
 * copy for ASCII), as generalized UTF-8 otherwise (a value holding escaped bytes; decoded in JS).
 */

/** How a value's bytes decode (the low bit of its length field). */
export const VALUE_UTF8 = 0;
export const VALUE_GENERAL = 1;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * A 32-bit hash of the key's UTF-16 units (FNV-1a, then murmur3's finalizer so that the low bits, which pick
 * the slot, depend on every unit). Hashing the units instead of the bytes is what lets a lookup hash the
 * request key directly; the table only ever hashes strings, and keeps each hash for resizing.
 */
export function hashKey(key: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** The code point at `s[i]`: a pair combined, any other unit as it is. */
function codePointAt(s: string, i: number, c: number): number {
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  }
  return c;
}

/** How many bytes `writeGeneral` writes for `s`. */
export function generalLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (codePointAt(s, i, c) > 0xffff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Write the generalized UTF-8 of `s` at `out[at]`; returns the offset after it. */
export function writeGeneral(s: string, out: Uint8Array, at: number): number {
  let o = at;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    const cp = codePointAt(s, i, c);
    if (cp < 0x800) {
      out[o++] = 0xc0 | (cp >> 6);
    } else if (cp < 0x10000) {
      out[o++] = 0xe0 | (cp >> 12);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
    } else {
      i++;
      out[o++] = 0xf0 | (cp >> 18);
      out[o++] = 0x80 | ((cp >> 12) & 0x3f);
      out[o++] = 0x80 | ((cp >> 6) & 0x3f);
    }
    out[o++] = 0x80 | (cp & 0x3f);
  }
  return o;
}

/** The string whose generalized UTF-8 is `buf[start, end)` (written by `writeGeneral`, so well-formed as such). */
export function readGeneral(buf: Uint8Array, start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    let cp: number;
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if (b < 0xe0) {
      cp = ((b & 0x1f) << 6) | (buf[i + 1]! & 0x3f);
      i += 2;
    } else if (b < 0xf0) {
      cp = ((b & 0x0f) << 12) | ((buf[i + 1]! & 0x3f) << 6) | (buf[i + 2]! & 0x3f);
      i += 3;
    } else {
      cp = ((b & 0x07) << 18) | ((buf[i + 1]! & 0x3f) << 12) | ((buf[i + 2]! & 0x3f) << 6) | (buf[i + 3]! & 0x3f);
      i += 4;
    }
    out += cp > 0xffff ? String.fromCharCode(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff)) : String.fromCharCode(cp);
  }
  return out;
}

/**
 * True when `buf[at, at + length)` is the generalized UTF-8 of `key`. Units below 0x80 (nearly every key) cost
 * one comparison each; the others are encoded on the fly.
 */
export function keyEquals(key: string, buf: Uint8Array, at: number, length: number): boolean {
  const end = at + length;
  let o = at;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) {
      if (o >= end || buf[o] !== c) return false;
      o++;
      continue;
    }
    const cp = codePointAt(key, i, c);
    let need: number;
    let first: number;
    if (cp < 0x800) {
      need = 1;
      first = 0xc0 | (cp >> 6);
    } else if (cp < 0x10000) {
      need = 2;
      first = 0xe0 | (cp >> 12);
    } else {
      need = 3;
      first = 0xf0 | (cp >> 18);
      i++;
    }
    if (o + need >= end || buf[o] !== first) return false;
    o++;
    for (let shift = 6 * (need - 1); shift >= 0; shift -= 6) {
      if (buf[o++] !== (0x80 | ((cp >> shift) & 0x3f))) return false;
    }
  }
  return o === end;
}

/** The storage form of a value (see the file comment). */
export function valueKind(value: string): number {
  return value.isWellFormed() ? VALUE_UTF8 : VALUE_GENERAL;
}
