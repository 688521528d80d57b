/**
 * A sockmap request is `MAP KEY`, split at the first space; the key may itself contain spaces and may be
 * empty (`"map "`). Both are decoded with `decodeBytes` (bytes.ts): valid UTF-8 as usual (SMTPUTF8 addresses),
 * any other byte losslessly, so that a key reaches modules and comes back in replies byte for byte.
 */
import { decodeBytes } from './bytes.js';

const SPACE = 0x20;

/** Map names up to this many bytes are remembered for reuse; longer ones are decoded every time. */
const REMEMBERED_MAP_BYTES = 64;

/**
 * Splits the requests of one connection. A connection nearly always asks the same one or two maps, so the
 * map name's string is kept and reused while its bytes repeat: a request then costs one new string (the
 * key) and no other object. After `split` returns true, `map` and `key` hold the request's parts.
 */
export class RequestSplitter {
  map = '';
  key = '';
  /** The bytes of `map` when it is short enough to remember; `mapLength` -1 when nothing is remembered. */
  private readonly mapBytes = Buffer.allocUnsafe(REMEMBERED_MAP_BYTES);
  private mapLength = -1;

  /** Split the payload `buf[start, end)`; false when it has no space or an empty map name. */
  split(buf: Buffer, start: number, end: number): boolean {
    let sp = start;
    while (sp < end && buf[sp] !== SPACE) sp++;
    if (sp === end || sp === start) return false;
    const n = sp - start;
    if (n !== this.mapLength || !this.sameMap(buf, start, n)) {
      this.map = decodeBytes(buf, start, sp);
      if (n <= REMEMBERED_MAP_BYTES) {
        buf.copy(this.mapBytes, 0, start, sp);
        this.mapLength = n;
      } else {
        this.mapLength = -1;
      }
    }
    this.key = decodeBytes(buf, sp + 1, end);
    return true;
  }

  private sameMap(buf: Buffer, start: number, n: number): boolean {
    const mine = this.mapBytes;
    for (let i = 0; i < n; i++) if (buf[start + i] !== mine[i]) return false;
    return true;
  }
}
