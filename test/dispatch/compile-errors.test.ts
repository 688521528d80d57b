import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRules } from '../../src/dispatch/index.js';
import { ConfigError, ConfigErrors } from '../../src/errors.js';
import type { RuleDecl } from '../../src/config/types.js';
import { ok } from '../../src/protocol/reply.js';
import { at, cond, database, defaultRule, echoDb, FakeDb, lookupOf, transform } from './fake-db.js';

const lookup = lookupOf(
  echoDb('answer', []),
  new FakeDb('xform', [], { transform: () => null }),
  new FakeDb('both', [], { query: () => ok('both'), transform: () => null }),
);

function errorsOf(rules: RuleDecl[]): string[] {
  try {
    compileRules(rules, lookup);
  } catch (err) {
    assert.ok(err instanceof ConfigErrors);
    assert.equal(err.code, 'E_CONFIG_MANY');
    for (const e of err.errors) assert.ok(e instanceof ConfigError && e.loc !== undefined);
    assert.equal(err.message, err.errors.map((e) => e.message).join('\n'));
    return err.errors.map((e) => e.message);
  }
  assert.fail('compileRules accepted bad rules');
}

describe('compileRules: errors', () => {
  it('reports an unknown database and missing capabilities at the rule', () => {
    assert.deepEqual(
      errorsOf([database('nope', [], at(3)), database('xform', [], at(4)), transform('key', 'answer', [], at(5))]),
      [
        'smapd.conf:3: no such database: nope',
        'smapd.conf:4: database xform does not answer queries (module fake)',
        'smapd.conf:5: database answer does not handle transformations (module fake)',
      ],
    );
  });

  it('reports every bad condition at its own location, in one pass', () => {
    const messages = errorsOf([
      database('answer', [cond.map('regexp', '/(unclosed/', at(10)), cond.key('regexp', '/x/q', at(11))], at(10)),
      database('answer', [cond.from('mail.example.com', at(12))], at(12)),
      database('answer', [cond.from('10.0.0.0/255.0.255.0', at(13))], at(13)),
      database('answer', [cond.not(cond.from('10.0.0.0/40', at(14)), at(14))], at(14)),
      database('answer', [cond.key('like', 'abc\\', at(15))], at(15)),
      database('missing', [cond.from('::1/200', at(16))], at(16)),
      database('answer', [cond.map('eq', 'fine', at(17))], at(17)),
    ]);
    assert.equal(messages.length, 8);
    assert.match(messages[0]!, /^smapd\.conf:10: map regexp \/\(unclosed\/: unmatched \($/);
    assert.match(messages[1]!, /^smapd\.conf:11: key regexp \/x\/q: unknown regexp flag "q"/);
    assert.match(messages[2]!, /^smapd\.conf:12: from mail\.example\.com: .*host name/);
    assert.match(messages[3]!, /^smapd\.conf:13: from 10\.0\.0\.0\/255\.0\.255\.0: .*not contiguous/);
    assert.match(messages[4]!, /^smapd\.conf:14: from 10\.0\.0\.0\/40: invalid prefix length/);
    assert.match(messages[5]!, /^smapd\.conf:15: key like abc\\: .*lone backslash/);
    assert.equal(messages[6], 'smapd.conf:16: no such database: missing');
    assert.match(messages[7]!, /^smapd\.conf:16: from ::1\/200: invalid prefix length/);
  });

  it('refuses what the linear-time engine cannot run, at the condition, with a hint', () => {
    const messages = errorsOf([
      database('answer', [cond.key('regexp', '/^(a|b)\\1$/', at(20))], at(20)),
      database('answer', [cond.map('regexp', '/x{1001}/', at(21))], at(21)),
    ]);
    assert.match(messages[0]!, /^smapd\.conf:20: key regexp \/\^\(a\|b\)\\1\$\/: back reference \\1 is not supported: .*\(aa\|bb\)/);
    assert.match(messages[1]!, /^smapd\.conf:21: map regexp \/x\{1001\}\/: interval \{1001\} is too large: .*1000/);
  });

  it('rejects a default rule with conditions or a transform', () => {
    const withCond: RuleDecl = { ...defaultRule('answer', at(20)), conditions: [cond.map('eq', 'x')] };
    const xform: RuleDecl = { ...transform('key', 'xform', [], at(21)), isDefault: true };
    assert.deepEqual(errorsOf([withCond, xform]), [
      'smapd.conf:20: a default rule takes no conditions',
      'smapd.conf:21: a default rule must name a database, not a transform',
    ]);
  });

  it('accepts good rules, including a database that can do both', () => {
    const d = compileRules([transform('map', 'both'), database('both'), defaultRule('answer')], lookup);
    assert.equal(d.ruleCount, 3);
  });
});
