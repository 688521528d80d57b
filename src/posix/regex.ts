/**
 * POSIX regular expressions (ERE, or BRE with GNU extensions) converted to RE2 syntax, once, at config
 * time: for dispatch rules (`regexp /expr/flags`) and for modules (the sed module's s-expressions). The two
 * syntaxes disagree on what is special (`+ ? { } ( ) |` are literal in BRE, `]` and `}` first need no
 * escape in POSIX, `a+?` is lazy in RE2 but "optional a+" in POSIX), so the pattern is re-tokenised and
 * every literal re-escaped instead of being passed through.
 *
 * The source runs on the linear-time engine (engine.ts). What that engine cannot do is refused here, with a
 * hint: back references, and counts above 1000.
 */
import { PatternError } from '../errors.js';
import { charAt, parseBracket } from './bracket.js';
import { LinearRegExp } from './engine.js';

/** How to read an expression: its flavour, and what the caller (sed) reads before POSIX does. */
export interface PosixRegexOptions {
  /** ERE when true, BRE when false. */
  readonly extended: boolean;
  /** An s-expression's delimiter: `\` + delimiter is that character, literally. None when absent or ''. */
  readonly delimiter?: string;
  /** Read `\n` and `\t` as newline and tab, as sed does; otherwise they are unsupported escapes. */
  readonly controlEscapes?: boolean;
}

/** A converted expression. */
export interface ConvertedRegex {
  /** RE2 source, for the engine (LinearRegExp). */
  readonly source: string;
  /** Number of capturing groups (RE2 numbers them the same way). */
  readonly groups: number;
  /** The source uses lookbehind (for `\<` and `\>`), which the engine runs only when asked. */
  readonly lookbehind: boolean;
}

/**
 * The largest count an interval may use: RE2's limit (glibc allows 32767). A larger count would make the
 * compiled program as large as the count, which is what the limit is for.
 */
export const DUP_MAX = 1000;

const RE2_SYNTAX = new Set('^$\\.*+?()[]{}|/'.split(''));

/** One literal character, escaped for use outside a character class. */
export function literalChar(ch: string): string {
  return RE2_SYNTAX.has(ch) ? '\\' + ch : ch;
}

/** A unit a quantifier may follow (an atom), or one it may not (an anchor). */
interface Piece {
  text: string;
  readonly repeatable: boolean;
  quantified: boolean;
}

/** One open group (or the whole pattern): finished alternatives and the current one's pieces. */
interface Frame {
  readonly alternatives: string[];
  pieces: Piece[];
}

/**
 * GNU escapes that stand for a class rather than a character, spelled out so that they mean what GNU says in
 * the C locale (RE2's own `\s` leaves out the vertical tab).
 */
const ESCAPE_CLASSES: Readonly<Record<string, string>> = {
  w: '[0-9A-Za-z_]',
  W: '[^0-9A-Za-z_]',
  s: '[\\t-\\r ]',
  S: '[^\\t-\\r ]',
};
/**
 * GNU escapes that stand for an anchor. A word start is a boundary not preceded by a word character, a word
 * end one that is: RE2 has lookbehind but no lookahead, so both are said with lookbehind.
 */
const ESCAPE_ANCHORS: Readonly<Record<string, string>> = {
  b: '\\b',
  B: '\\B',
  '<': '\\b(?<![0-9A-Za-z_])',
  '>': '\\b(?<=[0-9A-Za-z_])',
  '`': '\\A',
  "'": '\\z',
};
const LOOKBEHIND_ANCHORS = new Set(['<', '>']);
const CONTROL_ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t' };

/** Convert a POSIX expression; throws PatternError with the reason when it is malformed. */
export function convertPosixRegex(src: string, opts: PosixRegexOptions): ConvertedRegex {
  const { extended } = opts;
  const delimiter = opts.delimiter ?? '';
  const controlEscapes = opts.controlEscapes ?? false;
  const stack: Frame[] = [{ alternatives: [], pieces: [] }];
  // Groups are numbered in order of their `(`, as RE2 numbers them.
  let groups = 0;
  let lookbehind = false;
  let i = 0;

  const top = (): Frame => stack[stack.length - 1]!;
  const atom = (text: string): void => void top().pieces.push({ text, repeatable: true, quantified: false });
  const anchor = (text: string): void => void top().pieces.push({ text, repeatable: false, quantified: false });

  const quantify = (q: string, shown: string): void => {
    const last = top().pieces.at(-1);
    if (!last || !last.repeatable) throw new PatternError(`"${shown}" has nothing to repeat`);
    // POSIX `a*+` repeats `a*`; in RE2 `a**` is an error and `a+?` is lazy, so nest the earlier one.
    last.text = (last.quantified ? `(?:${last.text})` : last.text) + q;
    last.quantified = true;
  };

  const openGroup = (): void => {
    groups++;
    stack.push({ alternatives: [], pieces: [] });
  };
  const closeGroup = (shown: string): void => {
    if (stack.length === 1) throw new PatternError(`unmatched ${shown}`);
    const frame = stack.pop()!;
    frame.alternatives.push(frame.pieces.map((p) => p.text).join(''));
    atom(`(${frame.alternatives.join('|')})`);
  };
  const alternate = (): void => {
    const frame = top();
    frame.alternatives.push(frame.pieces.map((p) => p.text).join(''));
    frame.pieces = [];
  };

  // Parses `m}`, `m,}`, `m,n}`, `,n}` after the opening brace; `close` is `}` (ERE) or `\}` (BRE).
  const interval = (close: string, shown: string): void => {
    const m = /^(\d*)(,(\d*))?/.exec(src.slice(i))!;
    const end = i + m[0].length;
    const written = `${shown}${src.slice(i, end)}${close}`;
    if (!src.startsWith(close, end) || (m[1] === '' && m[3] === undefined) || (m[1] === '' && m[3] === '')) {
      const forms = `${shown}m${close}, ${shown}m,${close}, ${shown}m,n${close} or ${shown},n${close}`;
      const hint = extended ? ' (write \\{ for a literal brace)' : '';
      throw new PatternError(`invalid interval ${shown}${src.slice(i, end + close.length)}: expected ${forms}${hint}`);
    }
    const min = m[1] === '' ? 0 : Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
    if (min > DUP_MAX || (max !== undefined && max > DUP_MAX)) {
      throw new PatternError(
        `interval ${written} is too large: no count may be larger than ${DUP_MAX} (the linear-time engine's limit)`,
      );
    }
    if (max !== undefined && max < min) {
      throw new PatternError(`invalid interval ${written}: max is below min (${max} is less than ${min})`);
    }
    i = end + close.length;
    quantify(max === min ? `{${min}}` : max === undefined ? `{${min},}` : `{${min},${max}}`, shown);
  };

  // The one POSIX feature no linear-time engine can run: matching it is NP-hard in general.
  const backref = (d: string): never => {
    throw new PatternError(
      `back reference \\${d} is not supported: patterns run on a linear-time engine, which cannot match back ` +
        `references; spell the alternatives out instead, e.g. (a|b)\\1 as (aa|bb)`,
    );
  };

  // In BRE, `^` and `$` are anchors only at the ends of the pattern, a group, or an alternative.
  const breStartContext = (): boolean => top().pieces.length === 0;
  const breEndContext = (at: number): boolean =>
    at === src.length || src.startsWith('\\)', at) || src.startsWith('\\|', at);

  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') {
      if (i + 1 >= src.length) throw new PatternError('the regular expression ends with a lone backslash');
      if (delimiter !== '' && src.startsWith(delimiter, i + 1)) {
        atom(literalChar(delimiter));
        i += 1 + delimiter.length;
        continue;
      }
      const e = charAt(src, i + 1);
      i += 1 + e.length;
      if (!extended && e === '(') openGroup();
      else if (!extended && e === ')') closeGroup('\\)');
      else if (!extended && e === '|') alternate();
      else if (!extended && e === '{') interval('\\}', '\\{');
      else if (!extended && e === '}') throw new PatternError('unmatched \\}');
      else if (!extended && (e === '+' || e === '?')) quantify(e, '\\' + e);
      else if (e >= '1' && e <= '9') backref(e);
      else if (ESCAPE_CLASSES[e] !== undefined) atom(ESCAPE_CLASSES[e]!);
      else if (ESCAPE_ANCHORS[e] !== undefined) {
        anchor(ESCAPE_ANCHORS[e]!);
        if (LOOKBEHIND_ANCHORS.has(e)) lookbehind = true;
      } else if (controlEscapes && CONTROL_ESCAPES[e] !== undefined) atom(literalChar(CONTROL_ESCAPES[e]!));
      else if (/^[A-Za-z0-9]$/.test(e)) {
        const hint = e === 'd' ? '; for a digit write [[:digit:]] or [0-9]' : '';
        throw new PatternError(`unsupported escape \\${e} (not a POSIX regexp escape${hint})`);
      } else atom(literalChar(e));
      continue;
    }
    if (c === '[') {
      const b = parseBracket(src, i, { delimiter });
      if (b === null) throw new PatternError('unterminated bracket expression (unmatched [)');
      atom(b.source);
      i = b.end;
      continue;
    }
    i++;
    if (c === '.') atom('.');
    else if (c === '*') {
      // POSIX BRE: a `*` with nothing before it is an ordinary character.
      if (!extended && !top().pieces.at(-1)?.repeatable) atom('\\*');
      else quantify('*', '*');
    } else if (c === '^') {
      if (extended || breStartContext()) anchor('^');
      else atom('\\^');
    } else if (c === '$') {
      if (extended || breEndContext(i)) anchor('$');
      else atom('\\$');
    } else if (extended && (c === '+' || c === '?')) quantify(c, c);
    else if (extended && c === '{') interval('}', '{');
    else if (extended && c === '(') openGroup();
    else if (extended && c === ')') closeGroup(')');
    else if (extended && c === '|') alternate();
    else {
      // Take the whole code point so that a literal outside the BMP is one atom for a following quantifier.
      const ch = charAt(src, i - 1);
      i += ch.length - 1;
      atom(literalChar(ch));
    }
  }
  if (stack.length > 1) throw new PatternError(`unmatched ${extended ? '(' : '\\('}`);
  alternate();
  return { source: top().alternatives.join('|'), groups, lookbehind };
}

/** A compiled POSIX expression: the engine's pattern, and its group count for replacements. */
export interface PosixRegex {
  readonly regex: LinearRegExp;
  readonly groups: number;
}

/** Convert and compile; `original` is the pattern as written, for messages. Throws PatternError. */
export function compilePosixRegex(
  src: string,
  opts: PosixRegexOptions & { readonly icase?: boolean },
  original = src,
): PosixRegex {
  const converted = convertPosixRegex(src, opts);
  const engineOpts = { icase: opts.icase ?? false, lookbehind: converted.lookbehind };
  const regex = new LinearRegExp(converted.source, engineOpts, original);
  return { regex, groups: converted.groups };
}
