/**
 * The little of RESP2 (the Redis protocol) that a lookup connection speaks: commands go out as arrays of
 * bulk strings, so a key is always data whatever bytes it holds; replies come back as simple strings, errors,
 * integers and bulk strings (a GET, an HGET, AUTH, SELECT, CLIENT SETNAME never answer anything else).
 */

/** One argument of a command: text (sent as UTF-8) or bytes (a key that is not UTF-8, sent as it is). */
export type RespArg = string | Buffer;

/**
 * The command as one string when every argument is text (the common case: one string per lookup, appended to
 * the turn's batch), else as one Buffer.
 */
export function encodeCommand(args: readonly RespArg[]): string | Buffer {
  let text = `*${args.length}\r\n`;
  if (args.every((a): a is string => typeof a === 'string')) {
    for (const a of args) text += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    return text;
  }
  const parts: Buffer[] = [];
  for (const a of args) {
    const bytes = typeof a === 'string' ? Buffer.from(a) : a;
    text += `$${bytes.length}\r\n`;
    parts.push(Buffer.from(text), bytes);
    text = '\r\n';
  }
  parts.push(Buffer.from(text));
  return Buffer.concat(parts);
}

/** A reply, as the decoder hands it on: a bulk string's bytes are a view into the chunk, valid during the call. */
export type RespReply =
  | { readonly kind: 'bulk'; readonly buf: Buffer; readonly start: number; readonly end: number }
  | { readonly kind: 'null' }
  | { readonly kind: 'simple'; readonly text: string }
  | { readonly kind: 'error'; readonly text: string };

/** The server sent something this decoder does not speak (an array, a RESP3 type): the connection is unusable. */
export class RespSyntaxError extends Error {}

const CR = 13;
const NULL_REPLY: RespReply = { kind: 'null' };

/**
 * Splits the byte stream into replies. Input that ends in the middle of a reply is kept (copied once) until
 * the rest arrives; a whole chunk of whole replies, the usual case, is decoded in place.
 */
export class RespDecoder {
  private rest: Buffer | null = null;

  /** Decode what `chunk` completes, calling `onReply` for each reply in order. Throws RespSyntaxError. */
  push(chunk: Buffer, onReply: (reply: RespReply) => void): void {
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let at = 0;
    while (at < buf.length) {
      const next = this.one(buf, at, onReply);
      if (next < 0) break;
      at = next;
    }
    if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
  }

  /** Decode the reply at `at`; returns where the next one starts, or -1 when it is not all there yet. */
  private one(buf: Buffer, at: number, onReply: (reply: RespReply) => void): number {
    const cr = buf.indexOf(CR, at);
    if (cr < 0 || cr + 1 >= buf.length) return -1;
    const type = buf[at];
    const lineEnd = cr + 2;
    switch (type) {
      case 0x24 /* $ */: {
        const n = Number(buf.toString('latin1', at + 1, cr));
        if (!Number.isInteger(n) || n < -1) throw new RespSyntaxError(`bad bulk string length ${buf.toString('latin1', at + 1, cr)}`);
        if (n === -1) {
          onReply(NULL_REPLY);
          return lineEnd;
        }
        if (lineEnd + n + 2 > buf.length) return -1;
        onReply({ kind: 'bulk', buf, start: lineEnd, end: lineEnd + n });
        return lineEnd + n + 2;
      }
      case 0x2b /* + */:
      case 0x3a /* : */:
        onReply({ kind: 'simple', text: buf.toString('utf8', at + 1, cr) });
        return lineEnd;
      case 0x2d /* - */:
        onReply({ kind: 'error', text: buf.toString('utf8', at + 1, cr) });
        return lineEnd;
      default:
        throw new RespSyntaxError(`unexpected reply type ${JSON.stringify(String.fromCharCode(type!))}`);
    }
  }
}
