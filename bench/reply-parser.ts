/**
 * The load generator's reply reader: an incremental netstring scanner that looks at the first three bytes
 * of each payload (enough to tell `OK`, `NOTFOUND` and `NOMORE` apart) and skips the rest by arithmetic.
 * It makes no string and copies no byte per reply, so the client spends its time sending and the figures
 * measure the server. The text of a reply is decoded only for the first unexpected one, as an example.
 */

export const enum ReplyKind {
  Ok = 0,
  NotFound = 1,
  Other = 2,
}

/** Called once per complete reply, in order; `count` of the same chunk arrive together. */
export type ReplyHandler = (kind: ReplyKind) => void;

const COLON = 0x3a;
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;
const O = 0x4f;
const K = 0x4b;
const N = 0x4e;
const T = 0x54;
const F = 0x46;
const SPACE = 0x20;
/** Replies cannot be longer than smapd's max-reply-size cap (at most 1000000); a longer length is garbage. */
const MAX_LENGTH = 1_000_000;

const enum State {
  Length,
  Payload,
  Comma,
}

export class ReplyParser {
  private state = State.Length;
  private length = 0;
  private digits = 0;
  private seen = 0;
  private b0 = 0;
  private b1 = 0;
  private b2 = 0;
  private b3 = 0;
  /** The first reply that was neither OK nor NOTFOUND, when its bytes were at hand. */
  sample: string | undefined;
  /** Set when the stream stopped being netstrings; the connection should be dropped. */
  broken: string | undefined;

  /** Scan the first `n` bytes of a chunk; returns false when the stream is malformed (see `broken`). */
  push(chunk: Buffer, onReply: ReplyHandler, n = chunk.length): boolean {
    let i = 0;
    while (i < n) {
      if (this.state === State.Length) {
        const c = chunk[i++]!;
        if (c >= ZERO && c <= NINE) {
          this.length = this.length * 10 + (c - ZERO);
          if (++this.digits > 7 || this.length > MAX_LENGTH) return this.fail('reply length out of range');
        } else if (c === COLON && this.digits > 0) {
          this.state = this.length === 0 ? State.Comma : State.Payload;
          this.seen = 0;
          this.b0 = this.b1 = this.b2 = this.b3 = 0;
          if (this.sample === undefined && n - i >= this.length) this.keepSample(chunk, i);
        } else {
          return this.fail(`unexpected byte 0x${c.toString(16)} in reply length`);
        }
      } else if (this.state === State.Payload) {
        // Only the first four bytes matter; take them one at a time, then jump over the rest.
        while (this.seen < 4 && this.seen < this.length && i < n) {
          const c = chunk[i++]!;
          if (this.seen === 0) this.b0 = c;
          else if (this.seen === 1) this.b1 = c;
          else if (this.seen === 2) this.b2 = c;
          else this.b3 = c;
          this.seen++;
        }
        const skip = Math.min(this.length - this.seen, n - i);
        i += skip;
        this.seen += skip;
        if (this.seen === this.length) this.state = State.Comma;
      } else {
        if (chunk[i++] !== COMMA) return this.fail('missing comma after reply');
        const kind = this.classify();
        this.state = State.Length;
        this.length = 0;
        this.digits = 0;
        onReply(kind);
      }
    }
    return true;
  }

  private classify(): ReplyKind {
    if (this.b0 === O && this.b1 === K && (this.b2 === SPACE || this.length === 2)) return ReplyKind.Ok;
    // NOTFOUND and NOMORE share "NO"; the third byte tells them apart.
    if (this.b0 === N && this.b1 === O && this.b2 === T && this.b3 === F) return ReplyKind.NotFound;
    return ReplyKind.Other;
  }

  private keepSample(chunk: Buffer, at: number): void {
    const b0 = chunk[at];
    const b1 = chunk[at + 1];
    const b2 = chunk[at + 2];
    const isOk = b0 === O && b1 === K;
    const isNotFound = b0 === N && b1 === O && b2 === T;
    if (!isOk && !isNotFound) this.sample = chunk.toString('utf8', at, at + Math.min(this.length, 200));
  }

  private fail(why: string): false {
    this.broken = why;
    return false;
  }
}
