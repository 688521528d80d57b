import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRules } from '../../src/dispatch/index.js';
import type { RuleDecl } from '../../src/config/types.js';
import type { ConnInfo } from '../../src/modules/api.js';
import { NOTFOUND, ok, temp, type Reply } from '../../src/protocol/reply.js';
import { cond, database, defaultRule, echoDb, FakeDb, inet, inet6, lookupOf, transform, unix, type Call } from './fake-db.js';

/** Rules over two echo databases `a` and `b`. */
function setup(rules: RuleDecl[]): { dispatch: (map: string, key: string, c?: ConnInfo) => Reply | PromiseLike<Reply>; calls: Call[] } {
  const calls: Call[] = [];
  const d = compileRules(rules, lookupOf(echoDb('a', calls), echoDb('b', calls)));
  return { dispatch: (map, key, c = inet('192.0.2.1')) => d.dispatch(map, key, c), calls };
}

describe('dispatch: rule order and defaults', () => {
  it('answers from the first matching database rule only', () => {
    const { dispatch, calls } = setup([database('a', [cond.map('eq', 'aliases')]), database('b', [cond.map('like', 'a*')])]);
    assert.equal(dispatch('aliases', 'root'), 'OK a aliases root');
    assert.equal(dispatch('access', 'x'), 'OK b access x');
    assert.deepEqual(calls.map((c) => c.db), ['a', 'b']);
  });

  it('answers NOTFOUND (with its space) when no rule matches, without asking any database', () => {
    const { dispatch, calls } = setup([database('a', [cond.map('eq', 'aliases')])]);
    assert.equal(dispatch('virtual', 'x'), NOTFOUND);
    assert.equal(NOTFOUND, 'NOTFOUND ');
    assert.deepEqual(calls, []);
  });

  it('lets a rule without conditions and a default rule match everything, in their place', () => {
    const { dispatch } = setup([database('a', [cond.key('eq', 'special')]), defaultRule('b'), database('a')]);
    assert.equal(dispatch('m', 'special'), 'OK a m special');
    assert.equal(dispatch('m', 'other'), 'OK b m other');
    assert.equal(setup([database('b')]).dispatch('x', 'y'), 'OK b x y');
  });

  it('ANDs the conditions of one rule', () => {
    const { dispatch } = setup([database('a', [cond.map('eq', 'm'), cond.key('like', '*@x'), cond.server('main')]), defaultRule('b')]);
    assert.equal(dispatch('m', 'u@x'), 'OK a m u@x');
    assert.equal(dispatch('m', 'u@y'), 'OK b m u@y');
    assert.equal(dispatch('n', 'u@x'), 'OK b n u@x');
    assert.equal(dispatch('m', 'u@x', inet('192.0.2.1', 'other')), 'OK b m u@x');
  });

  it('reports how many rules it compiled', () => {
    assert.equal(compileRules([], lookupOf()).ruleCount, 0);
    assert.equal(compileRules([database('a'), transform('key', 't')], lookupOf(echoDb('a', []), new FakeDb('t', [], { transform: () => null }))).ruleCount, 2);
  });
});

describe('dispatch: conditions', () => {
  it('map and key with eq, like and regexp, positive and negative', () => {
    const { dispatch } = setup([
      database('a', [cond.map('eq', 'eqmap'), cond.key('eq', 'k')]),
      database('a', [cond.map('like', 'glob-*'), cond.key('like', '[0-9]?')]),
      database('a', [cond.map('regexp', '/^RE(x|y)$/i'), cond.key('regexp', '#[[:digit:]]{3}#')]),
      defaultRule('b'),
    ]);
    assert.equal(dispatch('eqmap', 'k'), 'OK a eqmap k');
    assert.equal(dispatch('eqmap', 'K'), 'OK b eqmap K');
    assert.equal(dispatch('glob-x', '1z'), 'OK a glob-x 1z');
    assert.equal(dispatch('glob-x', 'z1'), 'OK b glob-x z1');
    assert.equal(dispatch('rex', 'n123'), 'OK a rex n123');
    assert.equal(dispatch('rex', 'n12'), 'OK b rex n12');
    assert.equal(dispatch('rexy', 'n123'), 'OK b rexy n123');
  });

  it('server matches the listener id exactly', () => {
    const { dispatch } = setup([database('a', [cond.server('privileged')]), defaultRule('b')]);
    assert.equal(dispatch('m', 'k', inet('127.0.0.1', 'privileged')), 'OK a m k');
    assert.equal(dispatch('m', 'k', inet('127.0.0.1', 'Privileged')), 'OK b m k');
    assert.equal(dispatch('m', 'k', inet('127.0.0.1', 'privileged2')), 'OK b m k');
  });

  it('from selects by client network or unix listener', () => {
    const { dispatch } = setup([
      database('a', [cond.from('127.0.0.1/8')]),
      database('a', [cond.from('2001:db8::/64')]),
      database('a', [cond.from('/run/smapd/local.sock')]),
      defaultRule('b'),
    ]);
    assert.equal(dispatch('m', 'k', inet('127.9.9.9')), 'OK a m k');
    assert.equal(dispatch('m', 'k', inet6('::ffff:127.0.0.2')), 'OK a m k');
    assert.equal(dispatch('m', 'k', inet('10.0.0.1')), 'OK b m k');
    assert.equal(dispatch('m', 'k', inet6('2001:db8::5')), 'OK a m k');
    assert.equal(dispatch('m', 'k', inet6('2001:db8:0:1::5')), 'OK b m k');
    assert.equal(dispatch('m', 'k', unix('/run/smapd/local.sock')), 'OK a m k');
    assert.equal(dispatch('m', 'k', unix('/run/smapd/other.sock')), 'OK b m k');
  });

  it('not negates (GNU Smap ignored it): "not key eq foo" does not match foo', () => {
    const { dispatch } = setup([database('a', [cond.not(cond.key('eq', 'foo'))]), defaultRule('b')]);
    assert.equal(dispatch('m', 'foo'), 'OK b m foo');
    assert.equal(dispatch('m', 'bar'), 'OK a m bar');
  });

  it('not nests and combines with other conditions', () => {
    const { dispatch } = setup([
      database('a', [cond.not(cond.not(cond.map('eq', 'm'))), cond.not(cond.from('10.0.0.0/8'))]),
      defaultRule('b'),
    ]);
    assert.equal(dispatch('m', 'k', inet('192.0.2.1')), 'OK a m k');
    assert.equal(dispatch('m', 'k', inet('10.1.1.1')), 'OK b m k');
    assert.equal(dispatch('x', 'k', inet('192.0.2.1')), 'OK b x k');
    assert.equal(dispatch('m', 'k', unix('/s')), 'OK a m k');
  });
});

describe('dispatch: transforms', () => {
  function dbs(calls: Call[]) {
    return [
      echoDb('answer', calls),
      new FakeDb('dequote', calls, { transform: (s) => (s.startsWith('<') && s.endsWith('>') ? s.slice(1, -1) : null) }),
      new FakeDb('lower', calls, { transform: (s) => s.toLowerCase() }),
      new FakeDb('later', calls, { transform: async (s) => `${s}.late` }),
      new FakeDb('nothing', calls, { transform: async () => null }),
      new FakeDb('rename', calls, { transform: (s) => (s === 'alias' ? 'aliases' : null) }),
      new FakeDb('slow', calls, { query: async (m, k) => ok(`slow ${m} ${k}`) }),
    ];
  }

  it('rewrites the key and goes on with the next rule', () => {
    const calls: Call[] = [];
    const d = compileRules(
      [transform('key', 'dequote', [cond.key('like', '<*>')]), database('answer', [cond.map('eq', 'echo')])],
      lookupOf(...dbs(calls)),
    );
    assert.equal(d.dispatch('echo', '<user@example.com>', inet('1.2.3.4')), 'OK answer echo user@example.com');
    assert.equal(d.dispatch('echo', 'plain', inet('1.2.3.4')), 'OK answer echo plain');
    assert.deepEqual(calls, [
      { db: 'dequote', op: 'transform', args: ['<user@example.com>'] },
      { db: 'answer', op: 'query', args: ['echo', 'user@example.com'] },
      { db: 'answer', op: 'query', args: ['echo', 'plain'] },
    ]);
  });

  it('rewrites the map, and later conditions see the new value', () => {
    const calls: Call[] = [];
    const d = compileRules(
      [transform('map', 'rename'), database('answer', [cond.map('eq', 'aliases')])],
      lookupOf(...dbs(calls)),
    );
    assert.equal(d.dispatch('alias', 'root', inet('1.2.3.4')), 'OK answer aliases root');
    assert.equal(d.dispatch('other', 'root', inet('1.2.3.4')), NOTFOUND);
  });

  it('chains transforms; a null result keeps the value', () => {
    const calls: Call[] = [];
    const d = compileRules(
      [transform('key', 'dequote'), transform('key', 'lower'), transform('key', 'dequote'), database('answer')],
      lookupOf(...dbs(calls)),
    );
    assert.equal(d.dispatch('m', '<User@Example.COM>', inet('1.2.3.4')), 'OK answer m user@example.com');
    assert.deepEqual(
      calls.map((c) => `${c.db}:${c.args.join(',')}`),
      ['dequote:<User@Example.COM>', 'lower:User@Example.COM', 'dequote:user@example.com', 'answer:m,user@example.com'],
    );
  });

  it('stays synchronous while every step is, and goes async only after an async transform', async () => {
    const calls: Call[] = [];
    const d = compileRules(
      [transform('key', 'later', [cond.map('eq', 'async')]), transform('key', 'lower'), transform('key', 'nothing', [cond.map('eq', 'async')]), database('answer')],
      lookupOf(...dbs(calls)),
    );
    const sync = d.dispatch('sync', 'ABC', inet('1.2.3.4'));
    assert.equal(typeof sync, 'string');
    assert.equal(sync, 'OK answer sync abc');
    const pending = d.dispatch('async', 'ABC', inet('1.2.3.4'));
    assert.ok(pending instanceof Promise);
    assert.equal(await pending, 'OK answer async abc.late');
  });

  it('returns an async query reply as the promise the database gave', async () => {
    const d = compileRules([database('slow')], lookupOf(...dbs([])));
    const r = d.dispatch('m', 'k', inet('1.2.3.4'));
    assert.ok(r instanceof Promise);
    assert.equal(await r, 'OK slow m k');
  });

  it('passes the reply through untouched, failures included', () => {
    const failing = new FakeDb('down', [], { query: () => temp('backend down') });
    assert.equal(compileRules([database('down')], lookupOf(failing)).dispatch('m', 'k', inet('1.2.3.4')), 'TEMP backend down');
  });

  it('answers NOTFOUND when a transform is the last matching rule, sync or async', async () => {
    const calls: Call[] = [];
    const lookup = lookupOf(...dbs(calls));
    assert.equal(compileRules([transform('key', 'lower')], lookup).dispatch('m', 'K', inet('1.2.3.4')), NOTFOUND);
    assert.equal(await compileRules([transform('key', 'later')], lookup).dispatch('m', 'K', inet('1.2.3.4')), NOTFOUND);
    assert.deepEqual(calls.map((c) => c.op), ['transform', 'transform']);
  });

  it('gives the transform the connection it serves', () => {
    const seen: string[] = [];
    const who = new FakeDb('who', [], { transform: (s, c) => (seen.push(c.serverId), `${s}@${c.serverId}`) });
    const d = compileRules([transform('key', 'who'), database('answer')], lookupOf(who, echoDb('answer', [])));
    assert.equal(d.dispatch('m', 'k', inet('1.2.3.4', 'edge')), 'OK answer m k@edge');
    assert.deepEqual(seen, ['edge']);
  });
});
