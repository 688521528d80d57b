/**
 * The body of a `server` or `database` block: each statement goes to the handler for its keyword. Errors are
 * collected rather than thrown, so that one config pass reports every bad statement of a block.
 */
import { ConfigError } from '../errors.js';
import type { Statement } from './lexer.js';
import { keywordEntry } from './keywords.js';
import { didYouMean } from './suggest.js';

/** Applies one block statement to what the block declares; throws ConfigError for a bad statement. */
export type BlockHandler<T> = (stmt: Statement, target: T) => void;

/** Apply each statement of `body` to `target`; `kind` names the block in messages (`server`, `database`). */
export function applyBlock<T>(
  kind: string,
  body: readonly Statement[] | undefined,
  handlers: Readonly<Record<string, BlockHandler<T>>>,
  target: T,
  errors: ConfigError[],
): void {
  const keywords = Object.keys(handlers);
  for (const s of body ?? []) {
    const keyword = s.words[0]!.text;
    const handler = keywordEntry(handlers, keyword);
    try {
      if (!handler) {
        throw new ConfigError(
          `'${keyword}' is not allowed in a ${kind} block${didYouMean(keyword, keywords)}; allowed: ${keywords.join(', ')}`,
          s.loc,
        );
      }
      handler(s, target);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
  }
}
