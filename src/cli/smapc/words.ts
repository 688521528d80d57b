/**
 * Word splitting for smapc commands, shell-like as in GNU smapc: blanks separate words, '…' is literal,
 * "…" and bare words take backslash escapes, and an unquoted `#` at the start of a word begins a comment.
 * Quoting is what lets `.prompt "smapc> "` keep its trailing space.
 */

export class WordSplitError extends Error {}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

function escaped(c: string): string {
  return ESCAPES[c] ?? c;
}

function isBlank(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
}

export function splitWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isBlank(line[i]!)) i++;
    if (i >= n || line[i] === '#') break;
    let word = '';
    while (i < n && !isBlank(line[i]!)) {
      const c = line[i++]!;
      if (c === "'") {
        const end = line.indexOf("'", i);
        if (end < 0) throw new WordSplitError('missing closing quote (\')');
        word += line.slice(i, end);
        i = end + 1;
      } else if (c === '"') {
        let closed = false;
        while (i < n) {
          const d = line[i++]!;
          if (d === '"') {
            closed = true;
            break;
          }
          if (d === '\\' && i < n) word += escaped(line[i++]!);
          else word += d;
        }
        if (!closed) throw new WordSplitError('missing closing quote (")');
      } else if (c === '\\') {
        if (i >= n) throw new WordSplitError('backslash at the end of the line');
        word += escaped(line[i++]!);
      } else {
        word += c;
      }
    }
    words.push(word);
  }
  return words;
}
