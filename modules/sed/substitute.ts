/**
 * Running compiled s-expressions over a string. Matches are found the way GNU sed finds them: scanning goes
 * on from the end of the previous match, an empty match right where the previous match ended does not count,
 * and `^`/`$` keep meaning the ends of the whole input (so `g` after an anchored regex replaces once).
 */
import { BackendError } from '../../src/modules/api.js';
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

/**
 * Apply one expression; returns `input` itself when nothing was replaced. Each search runs in linear time, but
 * `g` (or a match number) repeats it from every match on, and a search may read ahead to the end of the key
 * before it settles on a short match (`(a.*c|a)` on `aaa...`): so the whole walk is bounded by `deadline`
 * (a `performance.now()` time), checked after every search.
 */
export function substitute(expr: SedExpression, input: string, deadline: number): string {
  const m = expr.regex.scan(input);
  let out = '';
  let copied = 0;
  let count = 0;
  let replaced = false;
  let prevEnd = -1;
  let pos = 0;
  while (pos <= input.length) {
    if (!m.find(pos)) break;
    if (performance.now() > deadline) {
      throw new BackendError(`expression '${expr.text}' ran past the time limit on a ${input.length}-character input`);
    }
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

/**
 * Apply expressions in order, each to the output of the one before (GNU Smap 2.0 used the original input),
 * within `limitMs` milliseconds for all of them; past it, throws BackendError.
 */
export function substituteAll(exprs: readonly SedExpression[], input: string, limitMs: number): string {
  const deadline = performance.now() + limitMs;
  let s = input;
  for (const e of exprs) s = substitute(e, s, deadline);
  return s;
}
