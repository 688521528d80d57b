/**
 * Keys are bytes. Sockmap carries bytes, and clients send what they have: Postfix sends UTF-8, Sendmail passes a
 * Latin-1 `caf\xe9` through as it came. smapd hands modules strings, so the bytes are decoded losslessly:
 *
 *   - valid UTF-8 decodes as usual, so every key a module saw before still looks the same;
 *   - each byte of an invalid sequence becomes the lone surrogate U+DC80..U+DCFF (0x80..0xFF; bytes below 0x80
 *     are always valid). Decoded valid UTF-8 never holds a lone surrogate, so no two different byte strings
 *     ever decode to the same string ("surrogate escape", as Python's `surrogateescape`);
 *   - `textBytes` turns such a string back into exactly the bytes it came from, and the reply writer sends a
 *     reply holding escapes as those bytes.
 *
 * A string holds escapes exactly when it is not well-formed UTF-16 (`String.prototype.isWellFormed`), a check
 * V8 answers at once for strings of one-byte characters, which most keys and replies are.
 */

declare global {
  interface String {
    /** ES2024, in Node since 20; the target library here is ES2022. */
    isWellFormed(): boolean;
  }
}

/** The first of the 128 lone surrogates that stand for the bytes 0x80..0xFF. */
const ESCAPE_BASE = 0xdc00;
const REPLACEMENT = 0xfffd;

/** True when `buf[j]` exists before `end` and lies in `lo..hi` (a continuation byte by default). */
function inRange(buf: Uint8Array, j: number, end: number, lo = 0x80, hi = 0xbf): boolean {
  return j < end && buf[j]! >= lo && buf[j]! <= hi;
}

/** The length of the well-formed UTF-8 sequence at `buf[i]`, or 0 when none starts there (Unicode table 3-7). */
function sequenceAt(buf: Uint8Array, i: number, end: number): number {
  const b = buf[i]!;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return inRange(buf, i + 1, end) ? 2 : 0;
  if (b < 0xe0 || b > 0xf4) return 0;
  const length = b < 0xf0 ? 3 : 4;
  // The second byte's range excludes overlong forms (E0, F0), UTF-16 surrogates (ED A0..BF) and code points
  // past U+10FFFF (F4 90..).
  const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
  const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
  if (!inRange(buf, i + 1, end, lo, hi)) return 0;
  for (let k = 2; k < length; k++) if (!inRange(buf, i + k, end)) return 0;
  return length;
}

/** The slow path of `decodeBytes`: runs of valid UTF-8 decode as usual, each other byte becomes its escape. */
function decodeEscaping(buf: Buffer, start: number, end: number): string {
  let out = '';
  let run = start;
  let i = start;
  while (i < end) {
    const n = sequenceAt(buf, i, end);
    if (n > 0) {
      i += n;
      continue;
    }
    if (run < i) out += buf.toString('utf8', run, i);
    out += String.fromCharCode(ESCAPE_BASE + buf[i]!);
    i++;
    run = i;
  }
  if (run < end) out += buf.toString('utf8', run, end);
  return out;
}

/**
 * `Buffer#utf8Slice`, what `toString('utf8', start, end)` calls once it has checked its arguments (undocumented,
 * in every Node release): the request path passes bounds it has checked itself, and saves the check about as
 * much as the U+FFFD test below costs. `toString` where a runtime lacks it.
 */
const utf8Slice: (this: Buffer, start: number, end: number) => string =
  (Buffer.prototype as Buffer & { utf8Slice?: (start: number, end: number) => string }).utf8Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('utf8', start, end);
  };

/**
 * Decode `buf[start, end)` losslessly (see the file comment). Valid UTF-8 costs what `toString('utf8')` costs;
 * only text in which that produced U+FFFD is decoded again, byte by byte.
 */
export function decodeBytes(buf: Buffer, start = 0, end = buf.length): string {
  const text = utf8Slice.call(buf, start, end);
  // Pure ASCII, the usual key, in two cheap steps: as many characters as bytes means no valid multi-byte
  // sequence (each makes fewer), so every character is ASCII or a U+FFFD for a bad byte; and then as many
  // UTF-8 bytes as characters means no U+FFFD (3 bytes each). `indexOf` costs more than both (V8 searches
  // a one-byte string for it all the same).
  if (text.length === end - start && Buffer.byteLength(text, 'utf8') === text.length) return text;
  return text.indexOf('\ufffd') < 0 ? text : decodeEscaping(buf, start, end);
}

/** True when `text` holds escaped bytes (or any other lone surrogate): it is then sent as bytes, not as UTF-8. */
export function hasRawBytes(text: string): boolean {
  return !text.isWellFormed();
}

/**
 * Write the bytes of `text` into `out` from 0 and return how many: UTF-8 for characters, the original byte for
 * each escape, and U+FFFD's UTF-8 for any other lone surrogate (what Node writes for one). `out` must hold
 * 3 bytes per UTF-16 unit of `text`.
 */
function writeEscaped(text: string, out: Buffer): number {
  let o = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[o++] = 0xf0 | (cp >> 18);
        out[o++] = 0x80 | ((cp >> 12) & 0x3f);
        out[o++] = 0x80 | ((cp >> 6) & 0x3f);
        out[o++] = 0x80 | (cp & 0x3f);
        continue;
      }
      if (c >= ESCAPE_BASE + 0x80 && c <= ESCAPE_BASE + 0xff) {
        out[o++] = c - ESCAPE_BASE;
        continue;
      }
      c = REPLACEMENT;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    }
  }
  return o;
}

/** The bytes `text` stands for: its UTF-8, with each escape turned back into its byte. */
export function textBytes(text: string): Buffer {
  if (text.isWellFormed()) return Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(text.length * 3);
  return out.subarray(0, writeEscaped(text, out));
}

/** How many bytes `textBytes(text)` has, without making them when `text` is plain UTF-8. */
export function textByteLength(text: string): number {
  return text.isWellFormed() ? Buffer.byteLength(text, 'utf8') : textBytes(text).length;
}

/** `text` as a netstring of its bytes (`LEN:BYTES,`), for a payload that holds escaped bytes. */
export function netstringOfBytes(text: string): Buffer {
  const body = textBytes(text);
  const head = body.length + ':';
  const out = Buffer.allocUnsafe(head.length + body.length + 1);
  out.write(head, 0, 'latin1');
  body.copy(out, head.length);
  out[out.length - 1] = 0x2c;
  return out;
}
