/**
 * The config file lexer: GNU Smap's line syntax turned into statements of words.
 *
 * One statement per logical line (`\` before a newline joins the next line), unquoted `#` starts a comment,
 * words split on blanks with '…' and "…" quoting. A line that is a single `NAME=value` word defines a
 * variable; `$NAME` / `${NAME}` expansion stays off until the first definition, as in GNU Smap, so that a
 * config without variables never has its `$` touched.
 */
import { ConfigError, type SourceLocation } from '../errors.js';

export interface Word {
  readonly text: string;
  /** Line the word started on (a continued statement spans several lines). */
  readonly line: number;
  /** Some part of the word was quoted, so `begin`/`end` written as '…' are plain words, not block markers. */
  readonly quoted: boolean;
}

export interface Statement {
  readonly words: readonly Word[];
  /** Where the statement starts. */
  readonly loc: SourceLocation;
}

/**
 * Variables persist across files (an included file sees, and may define, the same variables), so the caller
 * owns this state and passes it to every `lex` call of one config load.
 */
export class LexState {
  readonly vars = new Map<string, string>();
  get expanding(): boolean {
    return this.vars.size > 0;
  }
}

export interface LexResult {
  readonly statements: Statement[];
  readonly errors: ConfigError[];
}

const ESCAPES: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=/;
const VAR_START = /[A-Za-z_]/;
const VAR_CHAR = /[A-Za-z0-9_]/;

interface LogicalLine {
  readonly text: string;
  /** Offsets in `text` where a new physical line begins, with that line's number; ascending. */
  readonly breaks: readonly { readonly offset: number; readonly line: number }[];
}

/** Join continued lines. GNU Smap drops the backslash and the newline and inserts nothing between them. */
function logicalLines(source: string): LogicalLine[] {
  const physical = source.split('\n');
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop();
  const out: LogicalLine[] = [];
  let text = '';
  let breaks: { offset: number; line: number }[] = [];
  physical.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    breaks.push({ offset: text.length, line: index + 1 });
    if (line.endsWith('\\') && index < physical.length - 1) {
      text += line.slice(0, -1);
      return;
    }
    text += line;
    out.push({ text, breaks });
    text = '';
    breaks = [];
  });
  return out;
}

function lineAt(ll: LogicalLine, offset: number): number {
  let line = ll.breaks[0]!.line;
  for (const b of ll.breaks) {
    if (b.offset > offset) break;
    line = b.line;
  }
  return line;
}

/** Builds the words of one logical line; one instance per line. */
class LineLexer {
  private readonly words: Word[] = [];
  private text = '';
  private started = false;
  private quoted = false;
  private startLine = 0;
  private pos = 0;

  constructor(
    private readonly ll: LogicalLine,
    private readonly file: string,
    private readonly state: LexState,
  ) {}

  run(): Word[] {
    const s = this.ll.text;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === ' ' || c === '\t') {
        this.finishWord();
        this.pos++;
      } else if (c === '#') {
        break;
      } else if (c === "'") {
        this.singleQuoted();
      } else if (c === '"') {
        this.doubleQuoted();
      } else if (c === '\\') {
        this.begin();
        this.text += this.escape(s[this.pos + 1]);
        this.pos += 2;
      } else if (c === '$' && this.state.expanding) {
        this.begin();
        this.variable(false);
      } else {
        this.begin();
        this.text += c;
        this.pos++;
      }
    }
    this.finishWord();
    return this.words;
  }

  private loc(offset: number): SourceLocation {
    return { file: this.file, line: lineAt(this.ll, offset) };
  }

  private begin(): void {
    if (this.started) return;
    this.started = true;
    this.quoted = false;
    this.text = '';
    this.startLine = lineAt(this.ll, this.pos);
  }

  private finishWord(): void {
    // A word that was only an empty variable disappears, as in the shell; "" stays an empty word.
    if (this.started && (this.text !== '' || this.quoted)) {
      this.words.push({ text: this.text, line: this.startLine, quoted: this.quoted });
    }
    this.started = false;
  }

  private escape(next: string | undefined): string {
    // A backslash at the very end of the file (nothing follows) stays a backslash.
    if (next === undefined) return '\\';
    return ESCAPES[next] ?? next;
  }

  /** Single quotes keep everything literal, backslashes and `$` included (sed expressions need `\1`). */
  private singleQuoted(): void {
    const s = this.ll.text;
    const close = s.indexOf("'", this.pos + 1);
    if (close < 0) throw new ConfigError("missing closing ' (the quote opens here)", this.loc(this.pos));
    this.begin();
    this.quoted = true;
    this.text += s.slice(this.pos + 1, close);
    this.pos = close + 1;
  }

  private doubleQuoted(): void {
    const s = this.ll.text;
    const open = this.pos;
    this.begin();
    this.quoted = true;
    this.pos++;
    for (;;) {
      if (this.pos >= s.length) throw new ConfigError('missing closing " (the quote opens here)', this.loc(open));
      const c = s[this.pos]!;
      if (c === '"') break;
      if (c === '\\' && this.pos + 1 < s.length) {
        this.text += this.escape(s[this.pos + 1]);
        this.pos += 2;
      } else if (c === '$' && this.state.expanding) {
        this.variable(true);
      } else {
        this.text += c;
        this.pos++;
      }
    }
    this.pos++;
  }

  /**
   * Expand `$NAME` or `${NAME}` at `pos`. Undefined names stay verbatim, so module templates such as
   * `query="… '$key'"` reach the module intact. Unquoted values split into words like the shell's.
   */
  private variable(inDoubleQuotes: boolean): void {
    const s = this.ll.text;
    const dollar = this.pos;
    let name: string;
    let end: number;
    if (s[dollar + 1] === '{') {
      const close = s.indexOf('}', dollar + 2);
      if (close < 0) throw new ConfigError("unbalanced curly brace: '${' without '}'", this.loc(dollar));
      name = s.slice(dollar + 2, close);
      end = close + 1;
    } else if (s[dollar + 1] !== undefined && VAR_START.test(s[dollar + 1]!)) {
      end = dollar + 2;
      while (end < s.length && VAR_CHAR.test(s[end]!)) end++;
      name = s.slice(dollar + 1, end);
    } else {
      this.text += '$';
      this.pos++;
      return;
    }
    this.pos = end;
    const value = this.state.vars.get(name);
    if (value === undefined) {
      this.text += s.slice(dollar, end);
    } else if (inDoubleQuotes) {
      this.text += value;
    } else {
      this.appendSplit(value);
    }
  }

  private appendSplit(value: string): void {
    const parts = value.split(/[ \t\n]+/);
    parts.forEach((part, i) => {
      if (i > 0) {
        this.finishWord();
        this.begin();
      }
      this.text += part;
    });
  }
}

/**
 * Split `source` (the text of `file`) into statements, defining variables in `state` as it goes. Errors are
 * collected, one per bad line, so that a config check reports them all; the bad line is skipped.
 */
export function lex(source: string, file: string, state: LexState = new LexState()): LexResult {
  const statements: Statement[] = [];
  const errors: ConfigError[] = [];
  for (const ll of logicalLines(source)) {
    let words: Word[];
    try {
      words = new LineLexer(ll, file, state).run();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
      continue;
    }
    if (words.length === 0) continue;
    const first = words[0]!;
    const loc = { file, line: first.line };
    const assignment = ASSIGNMENT.exec(first.text);
    if (assignment) {
      if (words.length > 1) {
        errors.push(new ConfigError(`too many words in assignment to ${assignment[1]} (quote the value: ${assignment[1]}="...")`, loc));
        continue;
      }
      state.vars.set(assignment[1]!, first.text.slice(assignment[0].length));
      continue;
    }
    statements.push({ words, loc });
  }
  return { statements, errors };
}
