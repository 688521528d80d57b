/**
 * `dispatch` rules, syntax only: GNU Smap's grammar, where the target (`database DB` or
 * `transform map|key DB`) may stand anywhere among the conditions. Whether the database exists, the regexp
 * compiles or the address parses is the dispatch compiler's business; here the shape must be right.
 */
import { ConfigError } from '../errors.js';
import type { Statement, Word } from './lexer.js';
import type { Draft } from './draft.js';
import type { Condition, MatchOp, RuleAction } from './types.js';
import { keywordEntry } from './keywords.js';
import { didYouMean } from './suggest.js';
import { wordLoc } from './values.js';

const OPS: Readonly<Record<string, MatchOp>> = { eq: 'eq', is: 'eq', like: 'like', fnmatch: 'like', regexp: 'regexp' };
const CONDITION_WORDS = ['not', 'from', 'server', 'map', 'key'];
const TARGET_WORDS = ['database', 'transform'];
const USAGE = 'dispatch [CONDITION...] database DB | dispatch [CONDITION...] transform map|key DB | dispatch default database DB';

class RuleReader {
  private i = 0;
  constructor(
    private readonly stmt: Statement,
    private readonly words: readonly Word[],
  ) {}

  get done(): boolean {
    return this.i >= this.words.length;
  }

  peek(): Word | undefined {
    return this.words[this.i];
  }

  next(): Word {
    return this.words[this.i++]!;
  }

  /** The argument after `after`, which must exist. */
  argument(after: Word, what: string): Word {
    const w = this.words[this.i];
    if (w === undefined) throw this.error(`'${after.text}' needs ${what}`, after);
    this.i++;
    return w;
  }

  error(message: string, at: Word | undefined): ConfigError {
    return new ConfigError(message, wordLoc(this.stmt, at));
  }

  condition(): Condition {
    const w = this.next();
    const loc = wordLoc(this.stmt, w);
    switch (w.text) {
      case 'not': {
        const following = this.peek();
        if (following === undefined || TARGET_WORDS.includes(following.text)) {
          throw this.error(`'not' needs a condition after it`, w);
        }
        return { kind: 'not', cond: this.condition(), loc };
      }
      case 'from':
        return { kind: 'from', spec: this.argument(w, 'an address, ADDR/LEN, ADDR/MASK or a socket path').text, loc };
      case 'server':
        return { kind: 'server', id: this.argument(w, 'a server id').text, loc };
      case 'map':
      case 'key': {
        const first = this.argument(w, `a ${w.text} name or pattern`);
        const op = keywordEntry(OPS, first.text);
        if (op === undefined) return { kind: w.text, op: 'eq', pattern: first.text, loc };
        const pattern = this.argument(first, op === 'regexp' ? 'a /regexp/flags' : 'a pattern');
        return { kind: w.text, op, pattern: pattern.text, loc };
      }
      default:
        throw this.error(
          `unknown dispatch condition '${w.text}'${didYouMean(w.text, [...CONDITION_WORDS, ...TARGET_WORDS])}; ` +
            `expected not, from, server, map, key, database or transform`,
          w,
        );
    }
  }

  action(): RuleAction {
    const w = this.next();
    if (w.text === 'database') return { kind: 'database', db: this.argument(w, 'a database name').text };
    const target = this.argument(w, "'map' or 'key' and a database name");
    if (target.text !== 'map' && target.text !== 'key') {
      throw this.error(`'transform' rewrites 'map' or 'key', not '${target.text}'`, target);
    }
    return { kind: 'transform', target: target.text, db: this.argument(target, 'a database name').text };
  }
}

export function parseDispatch(stmt: Statement, d: Draft): void {
  const words = stmt.words.slice(1);
  if (words.length === 0) throw new ConfigError(`'dispatch' needs a rule: ${USAGE}`, stmt.loc);

  if (words[0]!.text === 'default') {
    const [, kw, db, extra] = words;
    if (kw?.text !== 'database' || db === undefined || extra !== undefined) {
      throw new ConfigError(`'dispatch default' takes only 'database DB', no conditions and no transform`, stmt.loc);
    }
    const first = d.rules.find((r) => r.isDefault);
    if (first) throw new ConfigError(`a default rule is already declared at ${first.loc.file}:${first.loc.line}`, stmt.loc);
    d.rules.push({ conditions: [], action: { kind: 'database', db: db.text }, isDefault: true, loc: stmt.loc });
    return;
  }

  const reader = new RuleReader(stmt, words);
  const conditions: Condition[] = [];
  let action: RuleAction | undefined;
  while (!reader.done) {
    const w = reader.peek()!;
    if (TARGET_WORDS.includes(w.text)) {
      if (action) throw reader.error(`a dispatch rule has one target; '${w.text}' is a second one`, w);
      action = reader.action();
    } else if (w.text === 'default') {
      throw reader.error(`'default' must come straight after 'dispatch' and stand alone: dispatch default database DB`, w);
    } else {
      conditions.push(reader.condition());
    }
  }
  if (!action) {
    throw new ConfigError(`dispatch rule has no target: add 'database DB' or 'transform map|key DB'`, stmt.loc);
  }
  d.rules.push({ conditions, action, isDefault: false, loc: stmt.loc });
}
