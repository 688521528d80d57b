/**
 * The dispatch engine: which database answers `MAP KEY`. Rules are compiled once into flat records and
 * scanned top-down by a plain loop. The scan stays synchronous, and returns the reply string itself, for as
 * long as every step is synchronous; only a transform that returns a promise makes the rest of that scan
 * asynchronous (it resumes at the next rule), and a query that returns a promise is returned as is.
 */
import { ConfigError, ConfigErrors } from '../errors.js';
import type { RuleDecl } from '../config/types.js';
import type { ConnInfo } from '../modules/api.js';
import type { DatabaseHandle, DatabaseLookup } from '../modules/database.js';
import { NOTFOUND, type Reply } from '../protocol/reply.js';
import { compileCondition, type Predicate } from './conditions.js';

export interface Dispatcher {
  /** Answer one request: the reply of the first matching `database` rule, or `NOTFOUND `. */
  dispatch(map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply>;
  /** How many rules were compiled. */
  readonly ruleCount: number;
}

const QUERY = 0;
const TRANSFORM_MAP = 1;
const TRANSFORM_KEY = 2;

interface CompiledRule {
  /** ANDed; empty matches everything. */
  readonly tests: readonly Predicate[];
  readonly action: typeof QUERY | typeof TRANSFORM_MAP | typeof TRANSFORM_KEY;
  readonly db: DatabaseHandle;
}

function matches(tests: readonly Predicate[], map: string, key: string, conn: ConnInfo): boolean {
  for (let j = 0; j < tests.length; j++) {
    if (!tests[j]!(map, key, conn)) return false;
  }
  return true;
}

function scan(rules: readonly CompiledRule[], start: number, map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply> {
  for (let i = start; i < rules.length; i++) {
    const rule = rules[i]!;
    if (!matches(rule.tests, map, key, conn)) continue;
    if (rule.action === QUERY) return rule.db.query(map, key, conn);
    const out = rule.db.transform(rule.action === TRANSFORM_MAP ? map : key, conn);
    if (out == null) continue;
    if (typeof out === 'string') {
      if (rule.action === TRANSFORM_MAP) map = out;
      else key = out;
      continue;
    }
    return resume(out, rules, i, map, key, conn);
  }
  return NOTFOUND;
}

/**
 * Finish a scan after rule `i`'s transform answered with a promise. The handle never rejects (a failed
 * transform reads as null); if one does anyway, that is a bug and the rejection reaches the caller.
 */
async function resume(
  pending: PromiseLike<string | null>,
  rules: readonly CompiledRule[],
  i: number,
  map: string,
  key: string,
  conn: ConnInfo,
): Promise<Reply> {
  const out = await pending;
  if (out != null) {
    if (rules[i]!.action === TRANSFORM_MAP) map = out;
    else key = out;
  }
  return scan(rules, i + 1, map, key, conn);
}

/** Check a rule's action against its database; returns the handle, or records why it cannot be used. */
function resolveTarget(rule: RuleDecl, lookup: DatabaseLookup, errors: ConfigError[]): DatabaseHandle | undefined {
  const name = rule.action.db;
  const db = lookup(name);
  if (db === undefined) {
    errors.push(new ConfigError(`no such database: ${name}`, rule.loc));
    return undefined;
  }
  if (rule.action.kind === 'database' && !db.canQuery) {
    errors.push(new ConfigError(`database ${name} does not answer queries (module ${db.moduleId})`, rule.loc));
    return undefined;
  }
  if (rule.action.kind === 'transform' && !db.canTransform) {
    errors.push(new ConfigError(`database ${name} does not handle transformations (module ${db.moduleId})`, rule.loc));
    return undefined;
  }
  return db;
}

function checkDefault(rule: RuleDecl, errors: ConfigError[]): void {
  if (!rule.isDefault) return;
  if (rule.conditions.length > 0) errors.push(new ConfigError('a default rule takes no conditions', rule.loc));
  if (rule.action.kind !== 'database') {
    errors.push(new ConfigError('a default rule must name a database, not a transform', rule.loc));
  }
}

/**
 * Compile the `dispatch` rules, in config order, against the configured databases. Throws ConfigErrors
 * listing every bad rule and condition with its location, so `smapd -t` shows them all at once.
 */
export function compileRules(rules: readonly RuleDecl[], lookup: DatabaseLookup): Dispatcher {
  const errors: ConfigError[] = [];
  const compiled: CompiledRule[] = [];
  for (const rule of rules) {
    checkDefault(rule, errors);
    const db = resolveTarget(rule, lookup, errors);
    const tests: Predicate[] = [];
    let ok = db !== undefined;
    for (const cond of rule.conditions) {
      const test = compileCondition(cond, errors);
      if (test === undefined) ok = false;
      else tests.push(test);
    }
    if (!ok || db === undefined) continue;
    const action = rule.action.kind === 'database' ? QUERY : rule.action.target === 'map' ? TRANSFORM_MAP : TRANSFORM_KEY;
    compiled.push(Object.freeze({ tests: Object.freeze(tests), action, db }));
  }
  if (errors.length > 0) throw new ConfigErrors(errors);
  Object.freeze(compiled);
  return Object.freeze({
    ruleCount: compiled.length,
    dispatch: (map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply> => scan(compiled, 0, map, key, conn),
  });
}
