/**
 * Streams a text map from a byte stream into a `TextMapParser`, so `smapd-makemap` can build maps larger
 * than it would like to hold as one string, and report progress by bytes read. Lines are split as bytes and
 * decoded like sockmap requests (src/protocol/bytes.ts), so a Latin-1 map file's `caf\xe9` is the key a client
 * sending those bytes looks up, and two different byte strings are never one key.
 */
import type { Readable } from 'node:stream';
import { decodeBytes } from '../protocol/bytes.js';
import { TextMapParser, type TextMapEntryHandler, type TextMapOptions } from './textmap.js';

const NEWLINE = 0x0a;

export interface ReadProgress {
  readonly bytes: number;
  readonly lines: number;
}

export interface StreamTextMapOptions extends TextMapOptions {
  /** Called after each chunk; cheap to call often, the caller throttles its own output. */
  readonly onProgress?: (p: ReadProgress) => void;
  /**
   * Called after each chunk's entries were handed out; awaiting it lets the consumer write a batch before
   * more input is read, so memory stays bounded by one chunk plus one batch.
   */
  readonly afterChunk?: () => Promise<void> | void;
}

/** Read all of `input`, handing each entry to `onEntry`. Returns the number of physical lines. */
export async function streamTextMap(
  input: Readable,
  file: string,
  onEntry: TextMapEntryHandler,
  options: StreamTextMapOptions = {},
): Promise<number> {
  const parser = new TextMapParser(file, onEntry, options);
  // The start of a line whose end has not arrived yet, in pieces (a line may span several chunks).
  let carry: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buf.length;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl < 0) break;
      if (carry.length === 0) {
        parser.line(decodeBytes(buf, start, nl));
      } else {
        carry.push(buf.subarray(start, nl));
        parser.line(decodeBytes(Buffer.concat(carry)));
        carry = [];
      }
      start = nl + 1;
    }
    // Copied, so that a short tail does not keep the whole chunk alive.
    if (start < buf.length) carry.push(Buffer.from(buf.subarray(start)));
    options.onProgress?.({ bytes, lines: parser.lines });
    await options.afterChunk?.();
  }
  if (carry.length > 0) parser.line(decodeBytes(Buffer.concat(carry)));
  parser.end();
  options.onProgress?.({ bytes, lines: parser.lines });
  return parser.lines;
}
