/**
 * `fold-case`: Unicode full case folding, the way Postfix folds keys (its casefold(): ICU's UTF-8 case folding
 * with the default, non-Turkic mappings; ASCII-only text is simply lowercased). `Straße` and `STRASSE` both fold
 * to `strasse`, final `ς` and `Σ` to `σ`, `ﬁ` to `fi`. Bytes that are not valid UTF-8 (the escapes of
 * src/protocol/bytes.ts) are left as they are, as ICU leaves such bytes as they are.
 *
 * One function for every place that folds (the file, level and memory modules, smapd-makemap): a map built with
 * `--fold-case` and the lookups of a `fold-case` database must fold alike, or keys silently stop matching.
 */
import { FULL_FOLDINGS, SIMPLE_RUNS, UNICODE_VERSION } from './casefold-data.js';

/** The Unicode version of the folding data. */
export const CASE_FOLDING_UNICODE_VERSION = UNICODE_VERSION;

function buildTable(): Map<number, string> {
  const table = new Map<number, string>();
  for (const run of SIMPLE_RUNS.split(';')) {
    const [start, count, step, offset] = run.split(',').map((n) => parseInt(n, 36)) as [number, number, number, number];
    for (let i = 0; i < count; i++) {
      const cp = start + i * step;
      table.set(cp, String.fromCodePoint(cp + offset));
    }
  }
  for (const entry of FULL_FOLDINGS.split(';')) {
    const [from, ...to] = entry.split(',').map((n) => parseInt(n, 36)) as [number, ...number[]];
    table.set(from, String.fromCodePoint(...to));
  }
  return table;
}

const FOLDINGS = buildTable();

const NON_ASCII = /[^\x00-\x7f]/;

/** `text` case-folded (full Unicode case folding; see the file comment). */
export function foldCase(text: string): string {
  // Most keys are ASCII: lower-casing is all there is to it (Postfix does the same), and V8 does it fast.
  if (!NON_ASCII.test(text)) return text.toLowerCase();
  let out = '';
  // for..of walks code points; a lone surrogate (an escaped byte) comes as itself and has no folding.
  for (const ch of text) out += FOLDINGS.get(ch.codePointAt(0)!) ?? ch;
  return out;
}
