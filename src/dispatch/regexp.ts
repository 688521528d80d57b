/**
 * `regexp` conditions: `/expr/flags` with any ASCII punctuation as the delimiter, translated from POSIX
 * (GNU regcomp) syntax once, at config load, and run on the linear-time engine (src/posix), so no key can
 * stall the daemon. The match is an unanchored search, as regexec(3) does. Flags: `i` ignore case, `x`
 * extended (ERE, the default), `b` basic (BRE).
 *
 * Like GNU Smap, the closing delimiter is the LAST occurrence of the opening one, so `/a/b/` is the
 * expression `a/b` and the delimiter needs no escaping inside.
 */
import { PatternError } from '../errors.js';
import { compilePosixRegex, type LinearRegExp } from '../posix/index.js';

const PUNCT = /^[!-/:-@[-`{-~]$/;

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

/**
 * Compile `/expr/flags` into a pattern for `test()`: unanchored, `.` matching newlines too (POSIX has no
 * line mode unless asked), by code point, keeping no state between calls.
 */
export function compileRegexp(text: string): LinearRegExp {
  const { body, icase, basic } = splitRegexp(text);
  return compilePosixRegex(body, { extended: !basic, icase }, text).regex;
}
