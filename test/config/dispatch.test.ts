import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, RuleDecl } from '../../src/config/types.js';
import { errorAt, FILE, parse } from './parse-helpers.js';

function rule(text: string): RuleDecl {
  const rules = parse(text).rules;
  assert.equal(rules.length, 1);
  return rules[0]!;
}

/** Conditions without their locations, for compact comparisons. */
function shape(c: Condition): unknown {
  const { loc: _loc, ...rest } = c;
  return c.kind === 'not' ? { kind: 'not', cond: shape(c.cond) } : rest;
}

function conditions(text: string): unknown[] {
  return rule(text).conditions.map(shape);
}

describe('dispatch: rule shapes', () => {
  it('reads the default rule', () => {
    assert.deepEqual(rule('dispatch default database fallback'), {
      conditions: [],
      action: { kind: 'database', db: 'fallback' },
      isDefault: true,
      loc: { file: FILE, line: 1 },
    });
  });

  it('reads a rule without conditions, which matches everything', () => {
    const r = rule('dispatch database all');
    assert.deepEqual([r.conditions, r.action, r.isDefault], [[], { kind: 'database', db: 'all' }, false]);
  });

  it('reads every condition kind, defaulting the operator to eq', () => {
    assert.deepEqual(conditions('dispatch from 10.0.0.0/8 server smtp map aliases key user@example.org database d'), [
      { kind: 'from', spec: '10.0.0.0/8' },
      { kind: 'server', id: 'smtp' },
      { kind: 'map', op: 'eq', pattern: 'aliases' },
      { kind: 'key', op: 'eq', pattern: 'user@example.org' },
    ]);
  });

  it('maps is to eq and fnmatch to like, and keeps regexps as written', () => {
    assert.deepEqual(conditions('dispatch map is a key fnmatch *@x map like v* key regexp /^RE(x|y)$/i map eq b database d'), [
      { kind: 'map', op: 'eq', pattern: 'a' },
      { kind: 'key', op: 'like', pattern: '*@x' },
      { kind: 'map', op: 'like', pattern: 'v*' },
      { kind: 'key', op: 'regexp', pattern: '/^RE(x|y)$/i' },
      { kind: 'map', op: 'eq', pattern: 'b' },
    ]);
  });

  it('nests not', () => {
    assert.deepEqual(conditions('dispatch not not from /run/s.sock not key like *@* database d'), [
      { kind: 'not', cond: { kind: 'not', cond: { kind: 'from', spec: '/run/s.sock' } } },
      { kind: 'not', cond: { kind: 'key', op: 'like', pattern: '*@*' } },
    ]);
  });

  it('accepts the target in the middle or at the start of the line', () => {
    const middle = rule('dispatch map mbq database mbq server privileged');
    assert.deepEqual(middle.action, { kind: 'database', db: 'mbq' });
    assert.deepEqual(middle.conditions.map(shape), [
      { kind: 'map', op: 'eq', pattern: 'mbq' },
      { kind: 'server', id: 'privileged' },
    ]);
    const first = rule('dispatch transform key dequote key like <*>');
    assert.deepEqual(first.action, { kind: 'transform', target: 'key', db: 'dequote' });
    assert.deepEqual(first.conditions.map(shape), [{ kind: 'key', op: 'like', pattern: '<*>' }]);
  });

  it('reads transform rules for map and key', () => {
    assert.deepEqual(rule('dispatch map ALIAS transform map lower').action, { kind: 'transform', target: 'map', db: 'lower' });
  });

  it('lets a condition match the words database or like when they are its argument', () => {
    assert.deepEqual(conditions('dispatch map database map like like database d'), [
      { kind: 'map', op: 'eq', pattern: 'database' },
      { kind: 'map', op: 'like', pattern: 'like' },
    ]);
  });

  it('keeps each condition on the line it is written on', () => {
    const r = rule('dispatch map a \\\n  key b \\\n  database d');
    assert.deepEqual(r.conditions.map((c) => c.loc.line), [1, 2]);
    assert.equal(r.loc.line, 1);
  });

  it('keeps rules in file order', () => {
    const rules = parse('dispatch map a database x\ndispatch default database y\ndispatch map b database z').rules;
    assert.deepEqual(rules.map((r) => r.action.kind === 'database' && r.action.db), ['x', 'y', 'z']);
  });
});

describe('dispatch: errors', () => {
  const cases: [string, string][] = [
    ['dispatch', "'dispatch' needs a rule: dispatch [CONDITION...] database DB | dispatch [CONDITION...] transform map|key DB | dispatch default database DB"],
    ['dispatch map x', "dispatch rule has no target: add 'database DB' or 'transform map|key DB'"],
    ['dispatch map x database', "'database' needs a database name"],
    ['dispatch map x database a database b', "a dispatch rule has one target; 'database' is a second one"],
    ['dispatch map x transform value db', "'transform' rewrites 'map' or 'key', not 'value'"],
    ['dispatch map x transform key', "'key' needs a database name"],
    ['dispatch map x transform', "'transform' needs 'map' or 'key' and a database name"],
    ['dispatch default database a map x', "'dispatch default' takes only 'database DB', no conditions and no transform"],
    ['dispatch default transform key a', "'dispatch default' takes only 'database DB', no conditions and no transform"],
    ['dispatch default', "'dispatch default' takes only 'database DB', no conditions and no transform"],
    ['dispatch map x default database a', "'default' must come straight after 'dispatch' and stand alone: dispatch default database DB"],
    ['dispatch not database a', "'not' needs a condition after it"],
    ['dispatch map x not', "'not' needs a condition after it"],
    ['dispatch map', "'map' needs a map name or pattern"],
    ['dispatch key regexp', "'regexp' needs a /regexp/flags"],
    ['dispatch key like', "'like' needs a pattern"],
    ['dispatch from', "'from' needs an address, ADDR/LEN, ADDR/MASK or a socket path"],
    ['dispatch server', "'server' needs a server id"],
    ['dispatch maps x database a', "unknown dispatch condition 'maps' (did you mean 'map'?); expected not, from, server, map, key, database or transform"],
    ['dispatch src 1.2.3.4 database a', "unknown dispatch condition 'src'; expected not, from, server, map, key, database or transform"],
  ];
  for (const [text, message] of cases) {
    it(`${text} → ${message.slice(0, 40)}`, () => {
      assert.equal(errorAt(text, 1), message);
    });
  }

  it('rejects a second default rule, naming the first', () => {
    assert.equal(errorAt('dispatch default database a\ndispatch default database b', 2), 'a default rule is already declared at /etc/smapd/smapd.conf:1');
  });

  it('points at the line of the bad word in a continued rule', () => {
    assert.equal(errorAt('dispatch map a \\\n  bogus b database d', 2), "unknown dispatch condition 'bogus'; expected not, from, server, map, key, database or transform");
  });
});
