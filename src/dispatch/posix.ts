/**
 * POSIX pattern syntax shared by the `like` (fnmatch) and `regexp` conditions: bracket expressions and their
 * character classes, translated to JavaScript character classes. Both run in the C locale, as GNU Smap's
 * fnmatch(3)/regcomp(3) calls effectively do for mail addresses, so the classes are ASCII.
 */

/** A pattern that cannot be compiled; the caller adds the config location. */
export class PatternError extends Error {
  override readonly name = 'PatternError';
}

/** `[:name:]` classes as the body of a JS character class (C locale). */
const CLASSES: Readonly<Record<string, string>> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: '0-9A-Za-z',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\v\\f\\r',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  print: ' -~',
  graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f',
};

export const POSIX_CLASS_NAMES: readonly string[] = Object.keys(CLASSES);

/** One character, made safe to put inside a JS character class. */
function classChar(ch: string): string {
  switch (ch) {
    case '\\':
    case ']':
    case '[':
    case '^':
    case '-':
      return '\\' + ch;
    default:
      return ch;
  }
}

/** Escape one literal character for use outside a character class. */
export function literalChar(ch: string): string {
  return '\\^$.|?*+()[]{}/'.includes(ch) ? '\\' + ch : ch;
}

type Element = { readonly ch: string; readonly cls?: undefined } | { readonly ch?: undefined; readonly cls: string };

/**
 * Read one element of a bracket expression at `i`: a plain character, a backslash escape (globs only; in a
 * POSIX regexp a backslash inside brackets is literal), `[:class:]`, `[=c=]` or `[.c.]`. Returns the element
 * and the index after it, or null when the pattern ends first.
 */
function readElement(p: string, i: number, glob: boolean): { el: Element; next: number } | null {
  if (i >= p.length) return null;
  const c = p[i]!;
  if (c === '[' && i + 1 < p.length) {
    const kind = p[i + 1]!;
    if (kind === ':' || kind === '=' || kind === '.') {
      const close = p.indexOf(kind + ']', i + 2);
      if (close < 0) throw new PatternError(`unterminated "[${kind}" in bracket expression`);
      const name = p.slice(i + 2, close);
      const next = close + 2;
      if (kind === ':') {
        const cls = CLASSES[name];
        if (cls === undefined) {
          throw new PatternError(`unknown character class "[:${name}:]" (known: ${POSIX_CLASS_NAMES.join(', ')})`);
        }
        return { el: { cls }, next };
      }
      // Multi-character collating elements and equivalence classes only exist in non-C locales.
      if (name.length !== 1) {
        throw new PatternError(`"[${kind}${name}${kind}]": only single characters are supported in the C locale`);
      }
      return { el: { ch: name }, next };
    }
  }
  if (glob && c === '\\') {
    if (i + 1 >= p.length) return null;
    return { el: { ch: p[i + 1]! }, next: i + 2 };
  }
  return { el: { ch: c }, next: i + 1 };
}

/**
 * Translate the bracket expression whose `[` is just before `start`. `glob` selects fnmatch rules (`!` also
 * negates, backslash escapes) over POSIX regexp rules. Returns the JS class and the index after the closing
 * `]`, or null when there is no closing `]` (fnmatch then reads the `[` as a literal; regcomp reports it).
 */
export function parseBracket(p: string, start: number, glob: boolean): { source: string; end: number } | null {
  let i = start;
  let negate = false;
  if (i < p.length && (p[i] === '^' || (glob && p[i] === '!'))) {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (;;) {
    if (i >= p.length) return null;
    // A `]` right after the opening (or the negation) is a member, not the end.
    if (p[i] === ']' && !first) {
      i++;
      break;
    }
    first = false;
    const lo = readElement(p, i, glob);
    if (lo === null) return null;
    i = lo.next;
    const isRange = p[i] === '-' && i + 1 < p.length && p[i + 1] !== ']';
    if (!isRange) {
      body += lo.el.cls ?? classChar(lo.el.ch);
      continue;
    }
    const hi = readElement(p, i + 1, glob);
    if (hi === null) return null;
    i = hi.next;
    if (lo.el.cls !== undefined || hi.el.cls !== undefined) {
      throw new PatternError('a character class cannot be the end of a range');
    }
    if (lo.el.ch.charCodeAt(0) > hi.el.ch.charCodeAt(0)) {
      throw new PatternError(`invalid range "${lo.el.ch}-${hi.el.ch}": start is after end`);
    }
    body += classChar(lo.el.ch) + '-' + classChar(hi.el.ch);
  }
  return { source: '[' + (negate ? '^' : '') + body + ']', end: i };
}

/** `new RegExp` with its syntax errors turned into PatternErrors that show the original pattern. */
export function buildRegExp(source: string, flags: string, original: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new PatternError(`cannot compile pattern "${original}": ${(err as Error).message}`);
  }
}
