/**
 * POSIX bracket expressions (`[a-z[:digit:]_]`) turned into RE2 character classes, for the POSIX regexp
 * converter (regex.ts) and for fnmatch globs. In POSIX a backslash inside brackets is an ordinary character
 * and `]` first in the list is a member, both unlike RE2, so every member is re-escaped rather than copied.
 * A member is a code point, as the engine (engine.ts) reads its input.
 */
import { PatternError } from '../errors.js';

/**
 * The character classes, as the C locale defines them. smapd does not follow the process locale: a map's
 * answers should not change with the environment the daemon happens to be started from.
 */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: '0-9A-Za-z',
  upper: 'A-Z',
  lower: 'a-z',
  space: '\\t-\\r ',
  blank: '\\t ',
  punct: '!-\\/:-@\\[-`{-~',
  print: ' -~',
  graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f',
};

export const POSIX_CLASS_NAMES: readonly string[] = Object.keys(POSIX_CLASSES);

/** One member of an RE2 character class: alphanumerics as they are, anything else as `\x{...}`. */
export function classChar(ch: string): string {
  return /^[A-Za-z0-9]$/.test(ch) ? ch : `\\x{${ch.codePointAt(0)!.toString(16)}}`;
}

/** The character (a whole code point) at `i`. */
export function charAt(src: string, i: number): string {
  return String.fromCodePoint(src.codePointAt(i)!);
}

/** Which rules a bracket expression follows: a POSIX regexp's (the default) or fnmatch's. */
export interface BracketOptions {
  /** fnmatch(3) rules: `!` negates as `^` does, and a backslash quotes the next character. */
  readonly glob?: boolean;
  /** An s-expression's delimiter: `\` + delimiter stands for the delimiter itself, here as everywhere else. */
  readonly delimiter?: string;
}

/** A translated bracket expression. */
export interface Bracket {
  /** The RE2 character class, brackets included. */
  readonly source: string;
  /** Index just after the closing `]`. */
  readonly end: number;
}

/**
 * Translate the bracket expression whose `[` is at `start`. Returns null when no `]` closes it: fnmatch then
 * reads the `[` as an ordinary character, the regexp converter reports it. Throws PatternError for an
 * expression that is malformed inside.
 */
export function parseBracket(src: string, start: number, opts: BracketOptions = {}): Bracket | null {
  const glob = opts.glob ?? false;
  const delimiter = opts.delimiter ?? '';
  let i = start + 1;
  let negate = false;
  if (src[i] === '^' || (glob && src[i] === '!')) {
    negate = true;
    i++;
  }
  const members: string[] = [];
  let first = true;

  // Reads one element that may end a range: a character, an escape, or [.c.] / [=c=]; undefined at the end.
  const readChar = (): string | undefined => {
    if (src[i] === '[' && (src[i + 1] === '.' || src[i + 1] === '=')) {
      const kind = src[i + 1]!;
      const close = src.indexOf(kind + ']', i + 2);
      if (close < 0) throw new PatternError(`unterminated [${kind} in bracket expression`);
      const name = src.slice(i + 2, close);
      // Multi-character collating elements and equivalence classes only exist in other locales than C.
      if ([...name].length !== 1) {
        throw new PatternError(`unsupported collating element [${kind}${name}${kind}]: only single characters are allowed`);
      }
      i = close + 2;
      return name;
    }
    if (src[i] === '\\' && glob) {
      if (i + 1 >= src.length) return undefined;
      i++;
    } else if (src[i] === '\\' && delimiter !== '' && src.startsWith(delimiter, i + 1)) {
      i += 1 + delimiter.length;
      return delimiter;
    }
    if (i >= src.length) return undefined;
    const ch = charAt(src, i);
    i += ch.length;
    return ch;
  };

  for (;;) {
    if (i >= src.length) return null;
    // A `]` right after the opening (or the negation) is a member, not the end.
    if (src[i] === ']' && !first) break;
    first = false;

    if (src[i] === '[' && src[i + 1] === ':') {
      const close = src.indexOf(':]', i + 2);
      if (close < 0) throw new PatternError('unterminated character class [: in bracket expression');
      const name = src.slice(i + 2, close);
      // hasOwn: `[:constructor:]` must not find a member of Object.prototype.
      const js = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
      if (js === undefined) {
        throw new PatternError(`unknown character class [:${name}:] (known: ${POSIX_CLASS_NAMES.join(', ')})`);
      }
      members.push(js);
      i = close + 2;
      if (src[i] === '-' && i + 1 < src.length && src[i + 1] !== ']') {
        throw new PatternError(`a character class [:${name}:] cannot start a range`);
      }
      continue;
    }

    const low = readChar();
    if (low === undefined) return null;
    // A '-' that is last in the list is a member, not a range.
    if (src[i] === '-' && i + 1 < src.length && src[i + 1] !== ']') {
      i++;
      if (src[i] === '[' && src[i + 1] === ':') throw new PatternError('a character class cannot end a range');
      const high = readChar();
      if (high === undefined) return null;
      if (high.codePointAt(0)! < low.codePointAt(0)!) {
        throw new PatternError(`invalid range ${low}-${high}: the end is before the start`);
      }
      members.push(`${classChar(low)}-${classChar(high)}`);
    } else {
      members.push(classChar(low));
    }
  }
  return { source: `[${negate ? '^' : ''}${members.join('')}]`, end: i + 1 };
}
