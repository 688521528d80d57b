/**
 * Compiles one dispatch condition into a predicate over (map, key, conn). Everything that can be decided at
 * config load (pattern syntax, network masks) is decided here, so a predicate call is a compare, or one run
 * of the linear-time pattern engine (which allocates only a small input wrapper).
 */
import { ConfigError, PatternError } from '../errors.js';
import type { Condition } from '../config/types.js';
import type { ConnInfo } from '../modules/api.js';
import { compileFrom } from './address.js';
import { compileGlob, type StringTest } from './glob.js';
import { compileRegexp } from './regexp.js';

export type Predicate = (map: string, key: string, conn: ConnInfo) => boolean;

function stringTest(op: 'eq' | 'like' | 'regexp', pattern: string): StringTest {
  switch (op) {
    case 'eq':
      return (s) => s === pattern;
    case 'like':
      return compileGlob(pattern);
    case 'regexp': {
      const re = compileRegexp(pattern);
      return (s) => re.test(s);
    }
  }
}

function describe(cond: Condition): string {
  switch (cond.kind) {
    case 'not':
      return 'not';
    case 'from':
      return `from ${cond.spec}`;
    case 'server':
      return `server ${cond.id}`;
    case 'map':
    case 'key':
      return `${cond.kind} ${cond.op} ${cond.pattern}`;
  }
}

function build(cond: Condition, errors: ConfigError[]): Predicate | undefined {
  switch (cond.kind) {
    case 'not': {
      const inner = compileCondition(cond.cond, errors);
      return inner && ((m, k, c) => !inner(m, k, c));
    }
    case 'server': {
      const id = cond.id;
      return (_m, _k, c) => c.serverId === id;
    }
    case 'from': {
      const test = compileFrom(cond.spec);
      return (_m, _k, c) => test(c);
    }
    case 'map': {
      if (cond.op === 'eq') {
        const want = cond.pattern;
        return (m) => m === want;
      }
      const test = stringTest(cond.op, cond.pattern);
      return (m) => test(m);
    }
    case 'key': {
      if (cond.op === 'eq') {
        const want = cond.pattern;
        return (_m, k) => k === want;
      }
      const test = stringTest(cond.op, cond.pattern);
      return (_m, k) => test(k);
    }
    default: {
      // The config types make this unreachable; a hand-built config could still get here.
      const kind = (cond as { kind: unknown }).kind;
      throw new PatternError(`unknown condition kind ${JSON.stringify(kind)}`);
    }
  }
}

/**
 * Compile a condition. A bad one is recorded in `errors` (with its location and the condition as written)
 * and yields undefined, so that one config pass reports every bad condition.
 */
export function compileCondition(cond: Condition, errors: ConfigError[]): Predicate | undefined {
  try {
    return build(cond, errors);
  } catch (err) {
    if (!(err instanceof PatternError)) throw err;
    errors.push(new ConfigError(`${describe(cond)}: ${err.message}`, cond.loc));
    return undefined;
  }
}
