/**
 * s-expressions as GNU tar's --transform writes them: `s/REGEX/REPLACEMENT/FLAGS`, any punctuation as the
 * delimiter, several of them in one word separated by `;`. Each is compiled here, at config time, into a
 * JavaScript RegExp and a parsed replacement, so a bad expression is a config error and never a query error.
 */
import { convertPosixRegex, ModuleArgumentError, PatternError } from '../../src/modules/api.js';
import { parseReplacement, type Replacement } from './replacement.js';

/** Defaults for the regex flavour; an expression's own `i`, `x`, `b` flags override them. */
export interface ExpressionDefaults {
  readonly icase: boolean;
  readonly extended: boolean;
}

export interface SedExpression {
  /** The expression as written, for messages. */
  readonly text: string;
  /** Compiled with the `g` flag: matches are found by setting `lastIndex`. */
  readonly regex: RegExp;
  readonly replacement: Replacement;
  /** Replace every match (from `occurrence` on), not just one. */
  readonly global: boolean;
  /** Which match to replace first, counting from 1. */
  readonly occurrence: number;
}

const FLAG_HELP = 'flags are g, i, x, b and a match number';

/** Parse and compile the expressions in one configuration word. */
export function parseExpressions(word: string, defaults: ExpressionDefaults): SedExpression[] {
  const out: SedExpression[] = [];
  let p = 0;
  while (p < word.length) {
    const { expression, next } = parseOne(word, p, defaults);
    out.push(expression);
    p = next;
  }
  if (out.length === 0) throw new ModuleArgumentError('empty s-expression');
  return out;
}

function fail(text: string, reason: string): never {
  throw new ModuleArgumentError(`invalid s-expression '${text}': ${reason}`);
}

/** Index of the next unescaped `delim` at or after `i`, or -1. */
function scanTo(word: string, i: number, delim: string): number {
  while (i < word.length) {
    if (word[i] === '\\' && i + 1 < word.length) i += 2;
    else if (word[i] === delim) return i;
    else i++;
  }
  return -1;
}

function parseOne(word: string, start: number, defaults: ExpressionDefaults): { expression: SedExpression; next: number } {
  const rest = word.slice(start);
  if (word[start] === ';') fail(rest, 'empty expression between two ;');
  if (word[start] !== 's') {
    fail(rest, "an expression starts with 's' and a delimiter, as in s/REGEX/REPLACEMENT/FLAGS");
  }
  const delim = word[start + 1];
  if (delim === undefined) fail(rest, "missing delimiter after 's'");
  if (!/^[!-~]$/.test(delim) || /^[A-Za-z0-9\\]$/.test(delim)) {
    fail(rest, `the delimiter '${delim}' is not allowed: use an ASCII punctuation character other than \\`);
  }
  const reEnd = scanTo(word, start + 2, delim);
  if (reEnd < 0) fail(rest, `unterminated regular expression: no closing '${delim}'`);
  const replEnd = scanTo(word, reEnd + 1, delim);
  if (replEnd < 0) fail(rest, `unterminated replacement: no closing '${delim}'`);

  const semicolon = word.indexOf(';', replEnd + 1);
  const end = semicolon < 0 ? word.length : semicolon;
  const text = word.slice(start, end);
  const next = semicolon < 0 ? end : end + 1;

  let global = false;
  let occurrence: number | undefined;
  let icase = defaults.icase;
  let flavour: 'x' | 'b' | undefined;
  for (let f = replEnd + 1; f < end; ) {
    const c = word[f]!;
    if (c >= '0' && c <= '9') {
      const digits = /^\d+/.exec(word.slice(f, end))![0];
      const n = Number(digits);
      if (n === 0) fail(text, 'the match number must be 1 or more');
      if (!Number.isSafeInteger(n)) fail(text, `match number ${digits} is too large`);
      if (occurrence !== undefined) fail(text, 'more than one match number');
      occurrence = n;
      f += digits.length;
      continue;
    }
    if (c === 'g') global = true;
    else if (c === 'i') icase = true;
    else if (c === 'x' || c === 'b') {
      if (flavour !== undefined && flavour !== c) fail(text, 'flags x (extended) and b (basic) contradict each other');
      flavour = c;
    } else fail(text, `unknown flag '${c}' (${FLAG_HELP})`);
    f++;
  }

  let expression: SedExpression;
  try {
    const extended = flavour === undefined ? defaults.extended : flavour === 'x';
    const source = word.slice(start + 2, reEnd);
    // In sed an empty regex repeats the last one used; an s-expression here has no last one.
    if (source === '') throw new ModuleArgumentError('empty regular expression');
    // sed reads \n and \t in the regex as newline and tab, and an escaped delimiter as itself.
    const converted = convertPosixRegex(source, { extended, delimiter: delim, controlEscapes: true });
    let regex: RegExp;
    try {
      regex = new RegExp(converted.source, 'gsu' + (icase ? 'i' : ''));
    } catch (err) {
      // The converter should have caught every syntax error; this is the engine's own limit (size, nesting).
      throw new ModuleArgumentError(`the regular expression cannot be compiled: ${(err as Error).message}`);
    }
    const replacement = parseReplacement(word.slice(reEnd + 1, replEnd), delim, converted.groups);
    expression = { text, regex, replacement, global, occurrence: occurrence ?? 1 };
  } catch (err) {
    if (err instanceof ModuleArgumentError || err instanceof PatternError) fail(text, err.message);
    throw err;
  }
  return { expression, next };
}
