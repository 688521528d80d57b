/**
 * The text map format shared by the `file` module and `smapd-makemap` (Postfix's postmap input format):
 *
 *   - `KEY VALUE` per line: the key runs to the first space or tab, the value is the rest, trimmed.
 *   - Blank lines and lines whose first non-blank character is `#` are ignored.
 *   - A line that starts with a space or tab continues the value of the entry above it; the pieces are
 *     trimmed and joined with one space. Comment and blank lines between them do not end the entry.
 *   - A key with no value (after continuations) is an error unless `allowEmptyValues` is set, because an
 *     `OK ` reply with an empty value is a configuration error in Postfix.
 *   - The file is UTF-8; a leading byte-order mark and CR of CRLF line ends are dropped. Bytes that are not
 *     UTF-8 (a Latin-1 `caf\xe9`) are kept exactly, as sockmap requests keep them (src/protocol/bytes.ts).
 *
 * The parser is incremental (`TextMapParser.line` per physical line) so a file can be parsed from one string
 * in memory or streamed; entries are handed out as each logical line ends.
 */
import { TextMapSyntaxError } from '../errors.js';
import { foldCase } from '../modules/casefold.js';

export { TextMapSyntaxError };

export interface TextMapOptions {
  /** Case-fold keys (as lookups with `fold-case` do: `foldCase`), so that `Foo` and `foo` are the same entry. */
  readonly foldCase?: boolean;
  /** Accept a key without a value; it gets the value ''. */
  readonly allowEmptyValues?: boolean;
}

/** Called once per entry, in file order; `line` is where the key is. */
export type TextMapEntryHandler = (key: string, value: string, line: number) => void;

const SPACE = 32;
const TAB = 9;
const HASH = 35;
const CR = 13;
const BOM = 0xfeff;

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** Turns physical lines into entries. Feed every line in order, then call `end()`. */
export class TextMapParser {
  private lineNo = 0;
  private pendingKey: string | null = null;
  private pendingValue = '';
  private pendingLine = 0;
  private readonly foldCase: boolean;
  private readonly allowEmpty: boolean;

  constructor(
    readonly file: string,
    private readonly onEntry: TextMapEntryHandler,
    options: TextMapOptions = {},
  ) {
    this.foldCase = options.foldCase ?? false;
    this.allowEmpty = options.allowEmptyValues ?? false;
  }

  /** The number of physical lines seen so far. */
  get lines(): number {
    return this.lineNo;
  }

  /** One physical line, without its `\n` (a trailing `\r` is tolerated). */
  line(text: string): void {
    this.lineNo++;
    let end = text.length;
    if (end > 0 && text.charCodeAt(end - 1) === CR) end--;
    let start = 0;
    if (this.lineNo === 1 && end > 0 && text.charCodeAt(0) === BOM) start = 1;
    if (start >= end) return;

    const first = text.charCodeAt(start);
    if (first === HASH) return;
    if (isBlank(first)) {
      let i = start + 1;
      while (i < end && isBlank(text.charCodeAt(i))) i++;
      if (i >= end || text.charCodeAt(i) === HASH) return;
      if (this.pendingKey === null) {
        throw new TextMapSyntaxError(this.file, this.lineNo, 'continuation line (starts with a blank) without a key above it');
      }
      const piece = text.slice(i, end).trim();
      this.pendingValue = this.pendingValue === '' ? piece : this.pendingValue + ' ' + piece;
      return;
    }

    this.flush();
    let i = start + 1;
    while (i < end && !isBlank(text.charCodeAt(i))) i++;
    const key = text.slice(start, i);
    this.pendingKey = this.foldCase ? foldCase(key) : key;
    this.pendingValue = i < end ? text.slice(i, end).trim() : '';
    this.pendingLine = this.lineNo;
  }

  /** The input is complete: hand out the last entry. */
  end(): void {
    this.flush();
  }

  private flush(): void {
    const key = this.pendingKey;
    if (key === null) return;
    this.pendingKey = null;
    if (this.pendingValue === '' && !this.allowEmpty) {
      throw new TextMapSyntaxError(this.file, this.pendingLine, `key '${key}' has no value`);
    }
    this.onEntry(key, this.pendingValue, this.pendingLine);
  }
}

/** Parse a whole text map held in one string. Throws `TextMapSyntaxError` at the first bad line. */
export function parseTextMap(text: string, file: string, onEntry: TextMapEntryHandler, options: TextMapOptions = {}): number {
  const parser = new TextMapParser(file, onEntry, options);
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) {
      // A final line without a newline still counts; an empty tail after the last newline does not.
      if (start < text.length) parser.line(text.slice(start));
      break;
    }
    parser.line(text.slice(start, nl));
    start = nl + 1;
  }
  parser.end();
  return parser.lines;
}

/**
 * Why an entry cannot be written back as a text map line that parses to the same key and value, or null if
 * it can. Used by `smapd-makemap --dump` so that a round trip never silently changes a map.
 */
export function textMapLineProblem(key: string, value: string): string | null {
  if (key === '') return 'the key is empty';
  if (/[\s]/.test(key)) return 'the key contains white space';
  if (key.charCodeAt(0) === HASH) return "the key starts with '#' and would read as a comment";
  if (/[\r\n]/.test(value)) return 'the value contains a line break';
  if (value !== value.trim()) return 'the value has leading or trailing white space, which the format trims';
  return null;
}

/** The text map line for an entry (without the newline). */
export function formatTextMapLine(key: string, value: string): string {
  return value === '' ? key : `${key}\t${value}`;
}
