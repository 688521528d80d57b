/**
 * The replacement part of an s-expression: literal text, `&` and `\0`-`\9` (groups), C escapes, and the GNU
 * case conversions `\U \L \E` (until changed) and `\u \l` (next character only). Parsed once into segments;
 * expanding a match is then a walk over them.
 */
import { ModuleArgumentError } from '../../src/modules/api.js';

/** The character (a whole code point) at `i`. */
function charAt(src: string, i: number): string {
  return String.fromCodePoint(src.codePointAt(i)!);
}

type CaseOp = 'U' | 'L' | 'E' | 'u' | 'l';

type Segment =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'group'; readonly n: number }
  | { readonly kind: 'case'; readonly op: CaseOp };

export interface Replacement {
  /** The replacement for one match; `m` is the match of the expression's RegExp. */
  expand(m: RegExpExecArray): string;
}

const C_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

const CASE_OPS = new Set<string>(['U', 'L', 'E', 'u', 'l']);

/** Parse `src`; `groups` is the number of groups in the regex, so `\N` beyond it is caught now. */
export function parseReplacement(src: string, delimiter: string, groups: number): Replacement {
  const segments: Segment[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') segments.push({ kind: 'text', text });
    text = '';
  };

  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '&') {
      flush();
      segments.push({ kind: 'group', n: 0 });
      i++;
      continue;
    }
    if (c !== '\\') {
      text += c;
      i++;
      continue;
    }
    if (i + 1 >= src.length) throw new ModuleArgumentError('trailing backslash in replacement');
    if (delimiter !== '' && src.startsWith(delimiter, i + 1)) {
      text += delimiter;
      i += 1 + delimiter.length;
      continue;
    }
    const e = charAt(src, i + 1);
    i += 1 + e.length;
    if (e >= '0' && e <= '9') {
      const n = Number(e);
      if (n > groups) {
        throw new ModuleArgumentError(
          `\\${n} in replacement, but the regular expression has ${groups === 0 ? 'no groups' : `only ${groups} group${groups === 1 ? '' : 's'}`}`,
        );
      }
      flush();
      segments.push({ kind: 'group', n });
    } else if (CASE_OPS.has(e)) {
      flush();
      segments.push({ kind: 'case', op: e as CaseOp });
    } else if (C_ESCAPES[e] !== undefined) {
      text += C_ESCAPES[e];
    } else if (/^[A-Za-z0-9]$/.test(e)) {
      throw new ModuleArgumentError(`unknown escape \\${e} in replacement`);
    } else {
      // `\&`, `\\` and any other escaped punctuation stand for the character itself.
      text += e;
    }
  }
  flush();

  const hasCase = segments.some((s) => s.kind === 'case');
  return { expand: hasCase ? (m) => expandWithCase(segments, m) : (m) => expandPlain(segments, m) };
}

function expandPlain(segments: readonly Segment[], m: RegExpExecArray): string {
  let out = '';
  for (const s of segments) {
    if (s.kind === 'text') out += s.text;
    else if (s.kind === 'group') out += m[s.n] ?? '';
  }
  return out;
}

function convert(mode: 'U' | 'L' | 'E', text: string): string {
  return mode === 'U' ? text.toUpperCase() : mode === 'L' ? text.toLowerCase() : text;
}

/**
 * Case conversion as GNU sed does it: `\U`/`\L`/`\E` set a mode that lasts to the end of the replacement (or
 * the next one of them) and cancel a pending `\u`/`\l`; `\u`/`\l` apply to the first character of the next
 * non-empty piece, which the lasting mode then does not touch. Each match starts with no conversion.
 */
function expandWithCase(segments: readonly Segment[], m: RegExpExecArray): string {
  let out = '';
  let mode: 'U' | 'L' | 'E' = 'E';
  let next: 'u' | 'l' | undefined;
  for (const s of segments) {
    if (s.kind === 'case') {
      if (s.op === 'u' || s.op === 'l') next = s.op;
      else {
        mode = s.op;
        next = undefined;
      }
      continue;
    }
    const piece = s.kind === 'text' ? s.text : (m[s.n] ?? '');
    if (piece === '') continue;
    if (next !== undefined) {
      const first = charAt(piece, 0);
      out += (next === 'u' ? first.toUpperCase() : first.toLowerCase()) + convert(mode, piece.slice(first.length));
      next = undefined;
    } else {
      out += convert(mode, piece);
    }
  }
  return out;
}
