/**
 * POSIX bracket expressions (`[a-z[:digit:]_]`) turned into JavaScript character classes. In POSIX a
 * backslash inside brackets is an ordinary character and `]` first in the list is a member, both unlike
 * JavaScript, so every member is re-escaped rather than copied.
 */
import { ModuleArgumentError } from '../../src/modules/api.js';

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
  cntrl: '\\0-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f',
};

export const POSIX_CLASS_NAMES: readonly string[] = Object.keys(POSIX_CLASSES);

/** One member of a JavaScript character class: alphanumerics as they are, anything else as `\u{...}`. */
export function classChar(ch: string): string {
  return /^[A-Za-z0-9]$/.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

/** The character (a whole code point) at `i`. */
export function charAt(src: string, i: number): string {
  return String.fromCodePoint(src.codePointAt(i)!);
}

export interface BracketResult {
  /** The JavaScript character class, brackets included. */
  readonly js: string;
  /** Index just after the closing `]`. */
  readonly end: number;
}

/**
 * Parse the bracket expression whose `[` is at `start`. `delimiter` is the s-expression delimiter: an
 * escaped delimiter stands for the delimiter itself, here as everywhere else in the expression.
 */
export function parseBracket(src: string, start: number, delimiter: string): BracketResult {
  let i = start + 1;
  let negate = false;
  if (src[i] === '^') {
    negate = true;
    i++;
  }
  const members: string[] = [];
  let first = true;

  // Reads one endpoint-capable element: a plain character, an escaped delimiter, or [.c.] / [=c=].
  const readChar = (): string | undefined => {
    if (src[i] === '[' && (src[i + 1] === '.' || src[i + 1] === '=')) {
      const kind = src[i + 1]!;
      const close = src.indexOf(kind + ']', i + 2);
      if (close < 0) throw new ModuleArgumentError(`unterminated [${kind} in bracket expression`);
      const name = src.slice(i + 2, close);
      if ([...name].length !== 1) {
        throw new ModuleArgumentError(`unsupported collating element [${kind}${name}${kind}]: only single characters are allowed`);
      }
      i = close + 2;
      return name;
    }
    if (src[i] === '\\' && delimiter !== '' && src.startsWith(delimiter, i + 1)) {
      i += 1 + delimiter.length;
      return delimiter;
    }
    const ch = charAt(src, i);
    i += ch.length;
    return ch;
  };

  for (;;) {
    if (i >= src.length) throw new ModuleArgumentError('unterminated bracket expression [');
    if (src[i] === ']' && !first) break;
    first = false;

    if (src[i] === '[' && src[i + 1] === ':') {
      const close = src.indexOf(':]', i + 2);
      if (close < 0) throw new ModuleArgumentError('unterminated character class [: in bracket expression');
      const name = src.slice(i + 2, close);
      const js = POSIX_CLASSES[name];
      if (js === undefined) {
        throw new ModuleArgumentError(`unknown character class [:${name}:] (known: ${POSIX_CLASS_NAMES.join(', ')})`);
      }
      members.push(js);
      i = close + 2;
      if (src[i] === '-' && src[i + 1] !== ']' && i + 1 < src.length) {
        throw new ModuleArgumentError(`a character class [:${name}:] cannot start a range`);
      }
      continue;
    }

    const low = readChar()!;
    // A '-' that is last in the list is a member, not a range.
    if (src[i] === '-' && i + 1 < src.length && src[i + 1] !== ']') {
      i++;
      if (src[i] === '[' && src[i + 1] === ':') throw new ModuleArgumentError('a character class cannot end a range');
      const high = readChar()!;
      if (high.codePointAt(0)! < low.codePointAt(0)!) {
        throw new ModuleArgumentError(`invalid range ${low}-${high}: the end is before the start`);
      }
      members.push(`${classChar(low)}-${classChar(high)}`);
    } else {
      members.push(classChar(low));
    }
  }
  return { js: `[${negate ? '^' : ''}${members.join('')}]`, end: i + 1 };
}
