/**
 * Word splitting for control-socket command lines. Values with spaces must survive the trip from the shell
 * through smapc to a module command (`db routes bind example.org "relay one"`), so a word may be quoted:
 * inside double quotes `\"` and `\\` are escapes; everywhere else a backslash is an ordinary character, so
 * regular expressions and Windows-style text pass through unchanged.
 */

const SPACE = /[ \t\r\n]/;

/** Split a command line into words; throws on an unterminated quote. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (SPACE.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c !== '"') {
      word += c;
      i++;
      continue;
    }
    const open = i++;
    for (;;) {
      if (i >= line.length) throw new Error(`unterminated quote starting at column ${open + 1}`);
      const q = line[i]!;
      if (q === '"') {
        i++;
        break;
      }
      if (q === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\')) {
        word += line[i + 1];
        i += 2;
        continue;
      }
      word += q;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Quote a word so that `splitWords` gives it back unchanged. */
export function quoteWord(word: string): string {
  if (word !== '' && !/[\s"]/.test(word)) return word;
  return '"' + word.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/** The command line for a list of words (as the shell passed them to smapc). */
export function joinWords(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}
