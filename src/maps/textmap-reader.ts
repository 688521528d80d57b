/**
 * Streams a text map from a byte stream into a `TextMapParser`, so `smapd-makemap` can build maps larger
 * than it would like to hold as one string, and report progress by bytes read.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { TextMapParser, type TextMapEntryHandler, type TextMapOptions } from './textmap.js';

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
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let bytes = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buf.length;
    const text = carry + decoder.write(buf);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      parser.line(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
    options.onProgress?.({ bytes, lines: parser.lines });
    await options.afterChunk?.();
  }
  const tail = carry + decoder.end();
  if (tail !== '') parser.line(tail);
  parser.end();
  options.onProgress?.({ bytes, lines: parser.lines });
  return parser.lines;
}
