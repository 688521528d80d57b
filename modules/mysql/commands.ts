/**
 * The commands a lookup connection sends, framed: COM_STMT_PREPARE, COM_STMT_EXECUTE with the request values
 * bound, COM_STMT_CLOSE, COM_PING, COM_QUIT. Each starts a new exchange, so its sequence id is 0.
 */
import { framePacket, lenencSize, MAX_PAYLOAD, writeLenenc } from './packets.js';

export const PING_FRAME = framePacket(Buffer.from([0x0e]), 0);
export const QUIT_FRAME = framePacket(Buffer.from([0x01]), 0);

export function prepareFrame(sql: string): Buffer {
  return framePacket(Buffer.from('\x16' + sql, 'utf8'), 0);
}

/** COM_STMT_CLOSE of statement `id`: the server sends no reply to it. */
export function closeFrame(id: number): Buffer {
  const payload = Buffer.allocUnsafe(5);
  payload[0] = 0x19;
  payload.writeUInt32LE(id, 1);
  return framePacket(payload, 0);
}

/** Parameter types: text as VAR_STRING (converted from utf8mb4 by the server), bytes as BLOB (compared as bytes). */
const VAR_STRING = 253;
const BLOB = 252;

/**
 * COM_STMT_EXECUTE of statement `id` with `values`: no cursor, one iteration, no NULLs, the types sent every
 * time (a parameter may be text in one lookup and bytes in the next).
 */
export function executeFrame(id: number, values: readonly (string | Buffer)[]): Buffer {
  const n = values.length;
  let size = 10;
  const lengths = new Array<number>(n);
  if (n > 0) {
    size += ((n + 7) >> 3) + 1 + 2 * n;
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const len = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length;
      lengths[i] = len;
      size += lenencSize(len) + len;
    }
  }
  const buf = Buffer.allocUnsafe(4 + size);
  buf[4] = 0x17;
  buf.writeUInt32LE(id, 5);
  buf[9] = 0; // CURSOR_TYPE_NO_CURSOR
  buf.writeUInt32LE(1, 10);
  let at = 14;
  if (n > 0) {
    buf.fill(0, at, at + ((n + 7) >> 3));
    at += (n + 7) >> 3;
    buf[at++] = 1; // new-params-bound: the types follow
    for (let i = 0; i < n; i++) {
      buf[at++] = typeof values[i] === 'string' ? VAR_STRING : BLOB;
      buf[at++] = 0;
    }
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      at = writeLenenc(buf, at, lengths[i]!);
      at += typeof v === 'string' ? buf.write(v, at, 'utf8') : v.copy(buf, at);
    }
  }
  if (size >= MAX_PAYLOAD) return framePacket(buf.subarray(4), 0);
  buf.writeUIntLE(size, 0, 3);
  buf[3] = 0;
  return buf;
}
