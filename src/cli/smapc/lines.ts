/**
 * Lines of a stream, read on demand. Unlike readline's iterator, the next chunk is read only when the
 * consumer asks for more lines, so batch mode reading a huge file holds one chunk at a time.
 */
import { StringDecoder } from 'node:string_decoder';

/** Yield each line without its `\n` or `\r\n`; a last line without a newline is yielded too. */
export async function* readLines(input: AsyncIterable<Buffer | string> | Iterable<string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield text.slice(start, end);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest !== '') yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
}
