/**
 * Netstring codec (`LEN:TEXT,`). The decoder is incremental over Buffers: a frame may arrive in pieces, and
 * one chunk may hold many frames (pipelining). The announced length is checked against the cap while its
 * digits arrive, so an oversize request is refused before a byte of it is buffered.
 */
import { ProtocolError, RequestTooLargeError } from '../errors.js';

const COLON = 0x3a;
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;

/** The most digits a length may have; more is garbage, whatever the cap. */
const MAX_LENGTH_DIGITS = 20;

/**
 * Called once per complete frame with the payload's place in `buf` (valid only during the call). Returning
 * exactly `false` stops the decoder right after this frame (the caller takes no more for now; see `push`).
 */
export type FrameHandler = (buf: Buffer, start: number, end: number) => unknown;

const enum State {
  Length,
  Payload,
  Comma,
}

export class NetstringDecoder {
  private state = State.Length;
  private length = 0;
  private digits = 0;
  /** Holds a payload that spans chunks; allocated at its announced size. */
  private partial: Buffer | null = null;
  private filled = 0;

  constructor(private readonly maxLength: number) {}

  /** True when no frame is half-read; EOF now is a clean close. */
  get idle(): boolean {
    return this.state === State.Length && this.digits === 0;
  }

  /**
   * Feed `chunk[from, n)` (all of it by default); `onFrame` runs for each complete frame, in order. Returns
   * where it stopped: `n`, or the offset just after a frame whose handler returned `false`; the caller feeds
   * the bytes from there again later. Nothing of `chunk` is kept after the call, so the caller may reuse it.
   * Throws ProtocolError on malformed input and RequestTooLargeError on an oversize length; the caller then
   * closes the connection.
   */
  push(chunk: Buffer, onFrame: FrameHandler, n = chunk.length, from = 0): number {
    let i = from;
    while (i < n) {
      switch (this.state) {
        case State.Length: {
          const c = chunk[i++]!;
          if (c >= ZERO && c <= NINE) {
            if (++this.digits > MAX_LENGTH_DIGITS) throw new ProtocolError('netstring length has too many digits');
            this.length = this.length * 10 + (c - ZERO);
            if (this.length > this.maxLength) {
              throw new RequestTooLargeError(`request length exceeds ${this.maxLength} bytes`);
            }
          } else if (c === COLON) {
            if (this.digits === 0) throw new ProtocolError('netstring without a length');
            this.state = State.Payload;
            this.filled = 0;
            // The whole payload and its comma are in this chunk: hand it over without copying.
            if (n - i > this.length && chunk[i + this.length] === COMMA) {
              const start = i;
              const len = this.length;
              i += len + 1;
              this.reset();
              if (onFrame(chunk, start, start + len) === false) return i;
            }
          } else {
            throw new ProtocolError(`invalid character ${describe(c)} in netstring length`);
          }
          break;
        }
        case State.Payload: {
          if (this.partial === null) this.partial = Buffer.allocUnsafe(this.length);
          const take = Math.min(this.length - this.filled, n - i);
          chunk.copy(this.partial, this.filled, i, i + take);
          this.filled += take;
          i += take;
          if (this.filled === this.length) this.state = State.Comma;
          break;
        }
        case State.Comma: {
          const c = chunk[i++]!;
          if (c !== COMMA) throw new ProtocolError(`expected ',' after netstring payload, got ${describe(c)}`);
          const frame = this.partial!;
          const len = this.length;
          this.partial = null;
          this.reset();
          if (onFrame(frame, 0, len) === false) return i;
          break;
        }
      }
    }
    return n;
  }

  private reset(): void {
    this.state = State.Length;
    this.length = 0;
    this.digits = 0;
    this.filled = 0;
  }
}

function describe(c: number): string {
  return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

/** Frame one payload as a netstring. */
export function encodeNetstring(payload: string): string {
  return Buffer.byteLength(payload, 'utf8') + ':' + payload + ',';
}

/** Frame a payload given as bytes. */
export function encodeNetstringBuffer(payload: Buffer): Buffer {
  const head = Buffer.from(payload.length + ':', 'latin1');
  return Buffer.concat([head, payload, Buffer.from(',')]);
}
