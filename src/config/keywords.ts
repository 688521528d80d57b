/**
 * Keyword tables are plain object literals (easy to read, `Object.keys` gives the list for messages), so every
 * lookup must see own properties only: a config word such as `constructor`, `toString` or `__proto__` would
 * otherwise find a member of Object.prototype and be taken for a keyword.
 */

/** The entry of `table` for `word`, or undefined when `word` is not one of its own keys. */
export function keywordEntry<T>(table: Readonly<Record<string, T>>, word: string): T | undefined {
  return Object.hasOwn(table, word) ? table[word] : undefined;
}

/** True when `word` is one of the table's own keys. */
export function isKeyword(table: Readonly<Record<string, unknown>>, word: string): boolean {
  return Object.hasOwn(table, word);
}
