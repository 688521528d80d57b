/**
 * Running compiled s-expressions over a string. Matches are found the way GNU sed finds them: scanning goes
 * on from the end of the previous match, an empty match right where the previous match ended does not count,
 * and `^`/`$` keep meaning the ends of the whole input (so `g` after an anchored regex replaces once).
 */
import type { SedExpression } from './expr.js';

/** Length in UTF-16 units of the code point at `i`, so an empty match never splits a surrogate pair. */
function stepAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/** Apply one expression; returns `input` itself when nothing was replaced. */
export function substitute(expr: SedExpression, input: string): string {
  const m = expr.regex.scan(input);
  let out = '';
  let copied = 0;
  let count = 0;
  let replaced = false;
  let prevEnd = -1;
  let pos = 0;
  while (pos <= input.length) {
    if (!m.find(pos)) break;
    const start = m.start();
    const end = m.end();
    if (start === end && start === prevEnd) {
      pos = start + stepAt(input, start);
      continue;
    }
    count++;
    if (count >= expr.occurrence) {
      out += input.slice(copied, start) + expr.replacement.expand(m);
      copied = end;
      replaced = true;
      if (!expr.global) break;
    }
    prevEnd = end;
    pos = end > start ? end : start + stepAt(input, start);
  }
  return replaced ? out + input.slice(copied) : input;
}

/** Apply expressions in order, each to the output of the one before (GNU Smap 2.0 used the original input). */
export function substituteAll(exprs: readonly SedExpression[], input: string): string {
  let s = input;
  for (const e of exprs) s = substitute(e, s);
  return s;
}
