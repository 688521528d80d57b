/**
 * Lines of a stream, read on demand. Unlike readline's iterator, the next chunk is read only when the
 * consumer asks for more lines, so batch mode reading a huge file holds one chunk at a time. Lines are split
 * as bytes and decoded as smapd decodes requests (src/protocol/bytes.ts), so a Latin-1 key in a batch file is
 * sent as its own bytes.
 */
import { decodeBytes } from '../../protocol/bytes.js';

const NEWLINE = 0x0a;
const CR = 0x0d;

function lineOf(buf: Buffer): string {
  return decodeBytes(buf, 0, buf.length > 0 && buf[buf.length - 1] === CR ? buf.length - 1 : buf.length);
}

/** Yield each line without its `\n` or `\r\n`; a last line without a newline is yielded too. */
export async function* readLines(input: AsyncIterable<Buffer | string> | Iterable<string>): AsyncGenerator<string> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of input) {
    const buf = rest.length === 0 ? Buffer.from(chunk) : Buffer.concat([rest, Buffer.from(chunk)]);
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE); nl >= 0; nl = buf.indexOf(NEWLINE, start)) {
      yield lineOf(buf.subarray(start, nl));
      start = nl + 1;
    }
    rest = Buffer.from(buf.subarray(start));
  }
  if (rest.length > 0) yield lineOf(rest);
}
