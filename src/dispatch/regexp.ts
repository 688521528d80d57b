/**
 * `regexp` conditions: `/expr/flags` with any ASCII punctuation as the delimiter, translated from POSIX
 * (GNU regcomp) syntax to a JavaScript RegExp once, at config load. The match is an unanchored search, as
 * regexec(3) does. Flags: `i` ignore case, `x` extended (ERE, the default), `b` basic (BRE).
 *
 * Like GNU Smap, the closing delimiter is the LAST occurrence of the opening one, so `/a/b/` is the
 * expression `a/b` and the delimiter needs no escaping inside.
 */
import { buildRegExp, literalChar, parseBracket, PatternError } from './posix.js';

const PUNCT = /^[!-/:-@[-`{-~]$/;
/** regcomp's RE_DUP_MAX: larger interval bounds are rejected there too. */
const DUP_MAX = 32767;

export interface ParsedRegexp {
  readonly body: string;
  readonly icase: boolean;
  readonly basic: boolean;
}

/** Split `/expr/flags` into the expression and its flags. */
export function splitRegexp(text: string): ParsedRegexp {
  if (text === '') throw new PatternError('empty regexp; write it as /expr/flags');
  const delim = text[0]!;
  if (!PUNCT.test(delim)) {
    throw new PatternError(`regexp "${text}" must start with a punctuation delimiter, as in /expr/flags`);
  }
  const close = text.lastIndexOf(delim);
  if (close === 0) throw new PatternError(`regexp "${text}" has no closing "${delim}"`);
  let icase = false;
  let basic = false;
  let extended = false;
  for (const f of text.slice(close + 1)) {
    if (f === 'i') icase = true;
    else if (f === 'b') basic = true;
    else if (f === 'x') extended = true;
    else throw new PatternError(`unknown regexp flag "${f}" in "${text}" (flags: i ignore case, x extended, b basic)`);
  }
  if (basic && extended) throw new PatternError(`regexp "${text}": flags "b" and "x" contradict each other`);
  return { body: text.slice(1, close), icase, basic };
}

/** Escapes that GNU regcomp gives a meaning beyond "this character literally". */
const ASSERTIONS: Readonly<Record<string, string>> = {
  b: '\\b',
  B: '\\B',
  '<': '\\b(?=\\w)',
  '>': '\\b(?<=\\w)',
  '`': '^',
  "'": '$',
};
const CLASS_ESCAPES = 'wWsS';

/** Translates one POSIX expression; a small state machine over its characters. */
class Translator {
  private out = '';
  /** Output index where the last repeatable atom starts, or -1 when a quantifier has nothing to repeat. */
  private atomStart = -1;
  private lastWasQuantifier = false;
  /** At the start of the expression, a group or an alternative (where a BRE `^` is an anchor). */
  private exprStart = true;
  /** Open groups: their number and output start. */
  private readonly open: { n: number; start: number }[] = [];
  private groups = 0;
  private readonly closed = new Set<number>();

  constructor(
    private readonly re: string,
    private readonly basic: boolean,
  ) {}

  translate(): string {
    const re = this.re;
    for (let i = 0; i < re.length; ) {
      const c = re[i]!;
      if (c === '\\') {
        if (i + 1 >= re.length) throw new PatternError('regexp ends with a lone backslash');
        i = this.escape(re[i + 1]!, i + 2);
        continue;
      }
      i = this.plain(c, i);
    }
    if (this.open.length > 0) throw new PatternError(`unmatched ${this.basic ? '\\(' : '('}`);
    return this.out;
  }

  /** A character outside a backslash escape; returns the next index. */
  private plain(c: string, i: number): number {
    const basic = this.basic;
    switch (c) {
      case '[': {
        const b = parseBracket(this.re, i + 1, false);
        if (b === null) throw new PatternError('unmatched [ in regexp');
        this.atom(b.source);
        return b.end;
      }
      case '.':
        this.atom('.');
        return i + 1;
      case '*':
        // In a BRE a leading `*` (start, after `\(`, `\|` or `^`) is an ordinary character.
        if (basic && this.atomStart < 0) this.atom('\\*');
        else this.quantifier('*');
        return i + 1;
      case '^':
        if (!basic || this.atExpressionStart()) this.anchor('^');
        else this.atom('\\^');
        return i + 1;
      case '$':
        if (!basic || this.atExpressionEnd(i + 1)) this.anchor('$');
        else this.atom('\\$');
        return i + 1;
      case '+':
      case '?':
        if (basic) this.atom(literalChar(c));
        else this.quantifier(c);
        return i + 1;
      case '{':
        if (basic) {
          this.atom('\\{');
          return i + 1;
        }
        return this.interval(i + 1, '}');
      case '(':
        if (basic) this.atom('\\(');
        else this.openGroup();
        return i + 1;
      case ')':
        if (basic) this.atom('\\)');
        else this.closeGroup();
        return i + 1;
      case '|':
        if (basic) this.atom('\\|');
        else this.alternation();
        return i + 1;
      default:
        this.atom(literalChar(c));
        return i + 1;
    }
  }

  /** `\d` where `d` is at `next - 1`; returns the next index. */
  private escape(d: string, next: number): number {
    const basic = this.basic;
    if (basic) {
      switch (d) {
        case '(':
          this.openGroup();
          return next;
        case ')':
          this.closeGroup();
          return next;
        case '|':
          this.alternation();
          return next;
        case '{':
          return this.interval(next, '\\}');
        case '+':
        case '?':
          this.quantifier(d);
          return next;
      }
    }
    if (d >= '1' && d <= '9') {
      const n = d.charCodeAt(0) - 48;
      if (!this.closed.has(n)) throw new PatternError(`invalid back reference \\${d}: group ${n} is not complete`);
      this.atom('\\' + d);
    } else if (CLASS_ESCAPES.includes(d)) {
      this.atom('\\' + d);
    } else if (ASSERTIONS[d] !== undefined) {
      this.anchor(ASSERTIONS[d]);
    } else if (/[0-9A-Za-z]/.test(d)) {
      throw new PatternError(`"\\${d}" is not a POSIX regexp escape (for a digit write [[:digit:]] or [0-9])`);
    } else {
      this.atom(literalChar(d));
    }
    return next;
  }

  private atom(src: string): void {
    this.atomStart = this.out.length;
    this.out += src;
    this.lastWasQuantifier = false;
    this.exprStart = false;
  }

  private anchor(src: string): void {
    this.out += src;
    this.atomStart = -1;
    this.lastWasQuantifier = false;
    this.exprStart = false;
  }

  private quantifier(q: string): void {
    if (this.atomStart < 0) throw new PatternError(`"${q}" has nothing to repeat`);
    // POSIX allows `a**` and `a+?` (a repeat of a repeat); JS rejects the first and reads the second as lazy.
    if (this.lastWasQuantifier) {
      this.out = this.out.slice(0, this.atomStart) + '(?:' + this.out.slice(this.atomStart) + ')';
    }
    this.out += q;
    this.lastWasQuantifier = true;
    this.exprStart = false;
  }

  /** `{m}`, `{m,}`, `{m,n}` or `{,n}`, whose body starts at `i`; `close` is `}` or `\}`. */
  private interval(i: number, close: string): number {
    const end = this.re.indexOf(close, i);
    const body = end < 0 ? '' : this.re.slice(i, end);
    const m = /^(\d*)(,(\d*))?$/.exec(body);
    if (end < 0 || m === null || (m[1] === '' && m[2] === undefined)) {
      throw new PatternError(`invalid interval: expected {min}, {min,}, {min,max} or {,max}`);
    }
    const min = m[1] === '' ? 0 : Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
    if (min > DUP_MAX || (max !== undefined && max > DUP_MAX)) {
      throw new PatternError(`interval bound larger than ${DUP_MAX}`);
    }
    if (max !== undefined && max < min) throw new PatternError(`invalid interval {${body}}: max is below min`);
    this.quantifier(m[2] === undefined ? `{${min}}` : `{${min},${max ?? ''}}`);
    return end + close.length;
  }

  private openGroup(): void {
    this.groups++;
    this.open.push({ n: this.groups, start: this.out.length });
    this.anchor('(');
    this.exprStart = true;
  }

  private closeGroup(): void {
    const g = this.open.pop();
    if (g === undefined) throw new PatternError(`unmatched ${this.basic ? '\\)' : ')'}`);
    this.out += ')';
    this.closed.add(g.n);
    this.atomStart = g.start;
    this.lastWasQuantifier = false;
    this.exprStart = false;
  }

  private alternation(): void {
    this.anchor('|');
    this.exprStart = true;
  }

  /** BRE: is `^` at the start of the expression, a group or an alternative? */
  private atExpressionStart(): boolean {
    return this.exprStart;
  }

  /** BRE: is `$` (ending just before `i`) at the end of the expression, a group or an alternative? */
  private atExpressionEnd(i: number): boolean {
    return i === this.re.length || this.re.startsWith('\\)', i) || this.re.startsWith('\\|', i);
  }
}

/**
 * Compile `/expr/flags` into a RegExp for `test()`: unanchored, `.` matching newlines too (POSIX has no
 * line mode unless asked), never global or sticky (so `test()` keeps no state between calls).
 */
export function compileRegexp(text: string): RegExp {
  const { body, icase, basic } = splitRegexp(text);
  const source = new Translator(body, basic).translate();
  return buildRegExp(source, icase ? 'is' : 's', text);
}
