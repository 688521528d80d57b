/**
 * The little of PostgreSQL's frontend/backend protocol (version 3.0) that a lookup connection speaks, written
 * from the protocol chapter of the PostgreSQL manual: a message is a type byte and a 32-bit length (counting
 * itself, not the type), except the startup-phase messages, which have no type byte. Text goes as UTF-8 (the
 * connection asks for client_encoding UTF8); every parameter and every result column is in text format, so a
 * key is always data and a value arrives as the server writes it.
 */

/** The startup packet's protocol number: 3.0. */
const PROTOCOL_3_0 = 196608;
/** The pseudo protocol numbers of the SSLRequest and the CancelRequest. */
const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;

/** Execute + Sync after every Bind: run the unnamed portal for at most one row, then end the implicit transaction. */
const EXECUTE_ONE_AND_SYNC = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 1, 0x53, 0, 0, 0, 4]);
/** Terminate: the polite goodbye before closing the socket. */
export const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);
export const SSL_REQUEST = int32s(8, SSL_REQUEST_CODE);

function int32s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32BE(v, i * 4));
  return b;
}

/** CancelRequest for backend `pid` with its secret key, sent over a connection of its own. */
export function cancelRequest(pid: number, secret: number): Buffer {
  return int32s(16, CANCEL_REQUEST_CODE, pid, secret);
}

/** A message of `type` whose body is the given C strings (NUL-terminated) and raw parts, in order. */
function message(type: string, parts: ReadonlyArray<string | Buffer>): Buffer {
  const bodies = parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0') : p));
  const length = 4 + bodies.reduce((n, b) => n + b.length, 0);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(length, 1);
  return Buffer.concat([head, ...bodies]);
}

/** The startup packet: protocol 3.0 and the `name`, `value` pairs (user, database, ...). */
export function startupMessage(params: ReadonlyArray<readonly [string, string]>): Buffer {
  const body = Buffer.from(params.map(([k, v]) => `${k}\0${v}\0`).join('') + '\0');
  return Buffer.concat([int32s(8 + body.length, PROTOCOL_3_0), body]);
}

/** PasswordMessage, which also carries the SASL responses (then without the trailing NUL). */
export function passwordMessage(password: string): Buffer {
  return message('p', [password]);
}

export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data);
  return message('p', [mechanism, int32s(bytes.length), bytes]);
}

export function saslResponse(data: string): Buffer {
  return message('p', [Buffer.from(data)]);
}

/** Parse the statement under `name`, describe it (its result columns), Sync: once per connection. */
export function prepareMessages(name: string, sql: string): Buffer {
  const none = Buffer.alloc(2);
  return Buffer.concat([message('P', [name, sql, none]), message('D', ['S' + name]), message('S', [])]);
}

/**
 * Writes Bind + Execute(1 row) + Sync for each lookup into one growing buffer, the batch of one event-loop
 * turn. The Bind head (unnamed portal, the statement's name, no parameter format codes: all text) is the
 * same for every lookup of a connection, so it is made once.
 */
export class LookupWriter {
  private buf = Buffer.allocUnsafe(4096);
  private len = 0;
  private readonly bindHead: Buffer;

  constructor(statement: string) {
    const name = Buffer.from(statement);
    // 'B', length (filled in per lookup), portal "" (one NUL), statement name, NUL, int16 0 format codes.
    this.bindHead = Buffer.alloc(5 + 1 + name.length + 1 + 2);
    this.bindHead[0] = 0x42;
    name.copy(this.bindHead, 6);
  }

  get empty(): boolean {
    return this.len === 0;
  }

  /** Append one lookup; every value is a parameter in text format (UTF-8), none NULL. */
  lookup(values: readonly string[]): void {
    let size = this.bindHead.length + 2 + 2 + EXECUTE_ONE_AND_SYNC.length;
    for (const v of values) size += 4 + Buffer.byteLength(v);
    this.reserve(size);
    const b = this.buf;
    const start = this.len;
    let at = start + this.bindHead.copy(b, start);
    at = b.writeInt16BE(values.length, at);
    for (const v of values) {
      const n = b.write(v, at + 4);
      b.writeInt32BE(n, at);
      at += 4 + n;
    }
    // No result format codes: every column in text.
    at = b.writeInt16BE(0, at);
    b.writeInt32BE(at - start - 1, start + 1);
    this.len = at + EXECUTE_ONE_AND_SYNC.copy(b, at);
  }

  /** Append a whole message made elsewhere (the statement's preparation). */
  raw(bytes: Buffer): void {
    this.reserve(bytes.length);
    this.len += bytes.copy(this.buf, this.len);
  }

  /** The batch so far, as a buffer of its own (the socket may hold it while this one is refilled). */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.len));
    this.len = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}

/** A backend message is bigger than any lookup's answer can sensibly be: the stream is not PostgreSQL. */
const MAX_MESSAGE = 64 * 1024 * 1024;

/** Called for each whole backend message: its type byte and where its body lies (valid during the call). */
export type MessageHandler = (type: number, buf: Buffer, start: number, end: number) => void;

/**
 * Splits the backend's byte stream into messages. A chunk of whole messages, the usual case, is handed on in
 * place; a message cut at the end of a chunk is kept (copied once) until the rest arrives.
 */
export class MessageReader {
  private rest: Buffer | null = null;

  /** Throws when a length is impossible (the peer does not speak the protocol). */
  push(chunk: Buffer, onMessage: MessageHandler): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let at = 0;
    while (buf.length - at >= 5) {
      const length = buf.readInt32BE(at + 1);
      if (length < 4 || length > MAX_MESSAGE) throw new Error(`bad message length ${length}`);
      const end = at + 1 + length;
      if (end > buf.length) break;
      onMessage(buf[at]!, buf, at + 5, end);
      at = end;
    }
    if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
  }
}

/** A DataRow's columns as text (NULL as null). */
export function readDataRow(buf: Buffer, start: number): (string | null)[] {
  const count = buf.readInt16BE(start);
  const values = new Array<string | null>(count);
  let at = start + 2;
  for (let i = 0; i < count; i++) {
    const n = buf.readInt32BE(at);
    at += 4;
    if (n < 0) values[i] = null;
    else {
      values[i] = buf.toString('utf8', at, at + n);
      at += n;
    }
  }
  return values;
}

/** A RowDescription's column names. */
export function readRowDescription(buf: Buffer, start: number): string[] {
  const count = buf.readInt16BE(start);
  const names: string[] = [];
  let at = start + 2;
  for (let i = 0; i < count; i++) {
    const nul = buf.indexOf(0, at);
    names.push(buf.toString('utf8', at, nul));
    // Table oid, column number, type oid, type size, type modifier, format code.
    at = nul + 1 + 18;
  }
  return names;
}

/** The fields of an ErrorResponse or NoticeResponse, by their one-letter codes (S, C, M, D, H, ...). */
export function readFields(buf: Buffer, start: number, end: number): Map<string, string> {
  const fields = new Map<string, string>();
  let at = start;
  while (at < end && buf[at] !== 0) {
    const nul = buf.indexOf(0, at + 1);
    if (nul < 0 || nul >= end) break;
    fields.set(String.fromCharCode(buf[at]!), buf.toString('utf8', at + 1, nul));
    at = nul + 1;
  }
  return fields;
}

/** The NUL-terminated strings of a message body (the SASL mechanisms of AuthenticationSASL). */
export function readCStrings(buf: Buffer, start: number, end: number): string[] {
  const out: string[] = [];
  let at = start;
  while (at < end && buf[at] !== 0) {
    const nul = buf.indexOf(0, at);
    if (nul < 0 || nul >= end) break;
    out.push(buf.toString('utf8', at, nul));
    at = nul + 1;
  }
  return out;
}
