/**
 * `like` / `fnmatch` patterns: fnmatch(3) with flags 0, as GNU Smap calls it. So `*` and `?` match any
 * character (a code point) including `/` and a leading `.`, matching is case-sensitive, and a backslash quotes
 * the next character. Patterns are compiled once; the common shapes (`abc`, `abc*`, `*abc`, `*abc*`, `a*b`) get a
 * plain string test, since most mail-map patterns are domain suffixes or prefixes; any other shape runs on the
 * linear-time engine (src/posix), because a backtracking one takes time to the power of the number of stars.
 */
import { PatternError } from '../errors.js';
import { LinearRegExp, literalChar, parseBracket } from '../posix/index.js';

export type StringTest = (s: string) => boolean;

const STAR = 0;
/** A piece of a glob: literal text, a star, or an engine fragment for `?` and `[...]`. */
type Piece = string | typeof STAR | { readonly re: string };

function tokenize(pattern: string): Piece[] {
  const pieces: Piece[] = [];
  let lit = '';
  const flush = (): void => {
    if (lit !== '') pieces.push(lit);
    lit = '';
  };
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i]!;
    if (c === '\\') {
      // fnmatch(3) never matches a pattern that ends in a lone backslash; say so instead.
      if (i + 1 >= pattern.length) throw new PatternError(`pattern "${pattern}" ends with a lone backslash`);
      lit += pattern[i + 1];
      i += 2;
    } else if (c === '*') {
      flush();
      if (pieces[pieces.length - 1] !== STAR) pieces.push(STAR);
      i++;
    } else if (c === '?') {
      flush();
      pieces.push({ re: '.' });
      i++;
    } else if (c === '[') {
      const bracket = parseBracket(pattern, i, { glob: true });
      if (bracket === null) {
        // fnmatch(3) reads an unterminated `[` as an ordinary character.
        lit += c;
        i++;
      } else {
        flush();
        pieces.push({ re: bracket.source });
        i = bracket.end;
      }
    } else {
      lit += c;
      i++;
    }
  }
  flush();
  return pieces;
}

/** A test for the shapes that need no regular expression, or undefined. */
function fastTest(pieces: readonly Piece[]): StringTest | undefined {
  if (pieces.some((p) => typeof p === 'object')) return undefined;
  const shape = pieces.map((p) => (p === STAR ? '*' : 'L')).join('');
  const lit = (n: number): string => pieces[n] as string;
  switch (shape) {
    case '':
      return (s) => s === '';
    case 'L': {
      const a = lit(0);
      return (s) => s === a;
    }
    case '*':
      return () => true;
    case 'L*': {
      const a = lit(0);
      return (s) => s.startsWith(a);
    }
    case '*L': {
      const a = lit(1);
      return (s) => s.endsWith(a);
    }
    case '*L*': {
      const a = lit(1);
      return (s) => s.includes(a);
    }
    case 'L*L': {
      const a = lit(0);
      const b = lit(2);
      const min = a.length + b.length;
      return (s) => s.length >= min && s.startsWith(a) && s.endsWith(b);
    }
    default:
      return undefined;
  }
}

/** Compile an fnmatch(3) pattern into a test; throws PatternError for a pattern fnmatch could never match. */
export function compileGlob(pattern: string): StringTest {
  const pieces = tokenize(pattern);
  const fast = fastTest(pieces);
  if (fast) return fast;
  // `.` matches a newline too: the engine always runs with "dot matches all".
  let source = '^';
  for (const p of pieces) {
    if (p === STAR) source += '.*';
    else if (typeof p === 'string') source += Array.from(p, literalChar).join('');
    else source += p.re;
  }
  const re = new LinearRegExp(source + '$', {}, pattern);
  return (s) => re.test(s);
}

/** True when a pattern uses glob syntax, so `from /path` knows to compile it rather than compare. */
export function hasGlobSyntax(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}
