/**
 * The framing of the MySQL client/server protocol: every packet is a 3-byte little-endian payload length and a
 * 1-byte sequence id, then the payload. A payload of 16 MB - 1 or more travels as several packets, each full one
 * followed by the next, ending with a shorter one (perhaps empty). Plus the integer and string encodings that
 * the payloads use (fixed little-endian integers, length-encoded integers and strings).
 */
import { BackendError } from '../../src/modules/api.js';

/** The largest payload of one packet; a payload this long continues in the next packet. */
export const MAX_PAYLOAD = 0xffffff;
/** The largest payload the decoder accepts (a lookup reads one row; anything bigger is a broken stream). */
const MAX_JOINED_PAYLOAD = 256 * 1024 * 1024;

/** The packet `payload` with its header(s), sequence ids from `seq`; split when it reaches MAX_PAYLOAD. */
export function framePacket(payload: Buffer, seq: number): Buffer {
  if (payload.length < MAX_PAYLOAD) {
    const out = Buffer.allocUnsafe(payload.length + 4);
    out.writeUIntLE(payload.length, 0, 3);
    out[3] = seq & 0xff;
    payload.copy(out, 4);
    return out;
  }
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const n = Math.min(MAX_PAYLOAD, payload.length - at);
    const head = Buffer.allocUnsafe(4);
    head.writeUIntLE(n, 0, 3);
    head[3] = seq++ & 0xff;
    parts.push(head, payload.subarray(at, at + n));
    at += n;
    // A payload of exactly k x MAX_PAYLOAD ends with an empty packet, so the reader knows it is complete.
    if (n < MAX_PAYLOAD) break;
  }
  return Buffer.concat(parts);
}

/** Called with each whole payload: `buf[start..end)`, valid only during the call. */
export type PacketHandler = (buf: Buffer, start: number, end: number) => void;

/**
 * Splits the byte stream from the server into payloads. A chunk of whole packets, the usual case, is handed
 * on in place; a packet cut by the chunk's end is kept until the rest arrives.
 */
export class PacketDecoder {
  private rest: Buffer | null = null;
  /** The parts of a payload split over several packets (16 MB or more), joined when its last part arrives. */
  private parts: Buffer[] | null = null;
  private partsLength = 0;

  push(chunk: Buffer, onPacket: PacketHandler): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let at = 0;
    while (buf.length - at >= 4) {
      const n = buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16);
      const start = at + 4;
      if (buf.length - start < n) break;
      at = start + n;
      if (n === MAX_PAYLOAD || this.parts !== null) {
        this.joinPart(buf.subarray(start, at), n === MAX_PAYLOAD, onPacket);
        continue;
      }
      onPacket(buf, start, at);
    }
    if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
  }

  private joinPart(part: Buffer, more: boolean, onPacket: PacketHandler): void {
    this.parts ??= [];
    this.parts.push(Buffer.from(part));
    this.partsLength += part.length;
    if (this.partsLength > MAX_JOINED_PAYLOAD) throw new BackendError(`a MySQL packet of more than ${MAX_JOINED_PAYLOAD} bytes`);
    if (more) return;
    const whole = Buffer.concat(this.parts);
    this.parts = null;
    this.partsLength = 0;
    onPacket(whole, 0, whole.length);
  }
}

/** A cursor over one payload, for the packets read once per connection or per result (not per value). */
export class PayloadReader {
  constructor(
    readonly buf: Buffer,
    public at: number,
    readonly end: number,
  ) {}

  get left(): number {
    return this.end - this.at;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.at);
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  /** A length-encoded integer (as a number: lengths and counts here never pass 2^53). */
  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) {
      this.need(3);
      const v = this.buf.readUIntLE(this.at, 3);
      this.at += 3;
      return v;
    }
    if (first === 0xfe) {
      this.need(8);
      const v = this.buf.readUInt32LE(this.at) + this.buf.readUInt32LE(this.at + 4) * 0x100000000;
      this.at += 8;
      return v;
    }
    throw new BackendError(`MySQL sent a bad length-encoded integer (0x${first.toString(16)})`);
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }

  lenencText(): string {
    const n = this.lenenc();
    this.need(n);
    const v = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return v;
  }

  /** A NUL-terminated string (or the rest of the payload when there is no NUL). */
  nulText(): string {
    let stop = this.buf.indexOf(0, this.at);
    if (stop < 0 || stop > this.end) stop = this.end;
    const v = this.buf.toString('utf8', this.at, stop);
    this.at = Math.min(stop + 1, this.end);
    return v;
  }

  restBytes(): Buffer {
    return this.bytes(this.left);
  }

  skip(n: number): void {
    this.need(n);
    this.at += n;
  }

  private need(n: number): void {
    if (this.end - this.at < n) throw new BackendError('MySQL sent a packet shorter than its contents');
  }
}

/** How many bytes the length-encoded form of `n` takes. */
export function lenencSize(n: number): number {
  return n < 0xfb ? 1 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 9;
}

/** Write `n` length-encoded at `at`; returns where the next field starts. */
export function writeLenenc(buf: Buffer, at: number, n: number): number {
  if (n < 0xfb) {
    buf[at] = n;
    return at + 1;
  }
  if (n < 0x10000) {
    buf[at] = 0xfc;
    buf.writeUInt16LE(n, at + 1);
    return at + 3;
  }
  if (n < 0x1000000) {
    buf[at] = 0xfd;
    buf.writeUIntLE(n, at + 1, 3);
    return at + 4;
  }
  buf[at] = 0xfe;
  buf.writeUInt32LE(n >>> 0, at + 1);
  buf.writeUInt32LE(Math.floor(n / 0x100000000), at + 5);
  return at + 9;
}

/** The error a server's ERR packet carries: `errno` is MySQL's number (1146, 1300...), `sqlState` its class. */
export class MysqlServerError extends BackendError {
  constructor(
    message: string,
    readonly errno: number,
    readonly sqlState: string,
  ) {
    super(message);
  }
}

/** Read an ERR packet (its first byte is 0xff). */
export function readError(buf: Buffer, start: number, end: number): MysqlServerError {
  const r = new PayloadReader(buf, start + 1, end);
  const errno = r.u16();
  let sqlState = '';
  if (r.left > 0 && buf[r.at] === 0x23 /* # */) {
    r.skip(1);
    sqlState = r.bytes(5).toString('latin1');
  }
  const text = buf.toString('utf8', r.at, end);
  return new MysqlServerError(`${text} (errno ${errno}${sqlState ? `, SQLSTATE ${sqlState}` : ''})`, errno, sqlState);
}

/** The server status flag that says another result set follows (a CALL, or several statements). */
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;

/**
 * The status flags of the packet that ends a result (an OK packet, or with CLIENT_DEPRECATE_EOF the 0xfe one
 * shaped like it; or the old EOF packet). `eofPacket`: the old 5-byte EOF form.
 */
export function endStatus(buf: Buffer, start: number, end: number, eofPacket: boolean): number {
  if (eofPacket) return end - start >= 5 ? buf.readUInt16LE(start + 3) : 0;
  const r = new PayloadReader(buf, start + 1, end);
  r.lenenc(); // affected rows
  r.lenenc(); // last insert id
  return r.left >= 2 ? r.u16() : 0;
}
