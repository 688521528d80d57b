import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineReplyOptions, ModuleArgumentError, replyPosition } from '../../src/modules/api.js';
import { databaseContext } from '../helpers/module-context.js';

const ctx = databaseContext();

const MAP = defineReplyOptions({
  positive: { default: 'OK ${value}', variables: ['map', 'key', 'value'] },
  negative: { variables: ['map', 'key'] },
  nomore: true,
});

const SQL = defineReplyOptions({
  positive: { default: 'OK ${1}', positional: true },
  negative: { variables: ['key'], positional: true },
  onerror: { default: 'TEMP ${error}', variables: ['key', 'error'] },
  timeout: { default: 'TIMEOUT ${error}', variables: ['key', 'error'] },
});

function compile(spec: typeof MAP, words: string[]) {
  return spec.compile(ctx.parseOptions(words, spec.options), ctx);
}

describe('reply options (defineReplyOptions)', () => {
  it('offers only the options the module asks for', () => {
    assert.deepEqual(Object.keys(MAP.options).sort(), ['negative-reply', 'nomore', 'positive-reply']);
    assert.deepEqual(Object.keys(SQL.options).sort(), ['negative-reply', 'onerror-reply', 'positive-reply', 'timeout-reply']);
    assert.throws(() => ctx.parseOptions(['onerror-reply=TEMP x'], MAP.options), /unknown option 'onerror-reply'/);
  });

  it('compiles defaults: the positive default, NOTFOUND, no error replies unless offered', () => {
    const r = compile(MAP, []);
    assert.equal(r.positive.render((n) => (n === 'value' ? 'v' : undefined)), 'OK v');
    assert.equal(r.negative.constant, 'NOTFOUND ');
    assert.equal(r.onerror, undefined);
    assert.equal(r.timeout, undefined);
  });

  it('turns nomore into a NOMORE negative reply, and refuses it together with negative-reply=', () => {
    assert.equal(compile(MAP, ['nomore']).negative.constant, 'NOMORE ');
    assert.equal(compile(MAP, ['negative-reply=PERM no ${key}']).negative.render(() => 'k'), 'PERM no k');
    assert.throws(
      () => compile(MAP, ['nomore', 'negative-reply=NOTFOUND']),
      (e: unknown) => e instanceof ModuleArgumentError && /nomore and negative-reply= cannot be used together/.test(e.message),
    );
  });

  it('checks each option against its own variables, naming the option', () => {
    assert.throws(() => compile(MAP, ['negative-reply=NOTFOUND ${value}']), /^ModuleArgumentError: negative-reply: unknown variable \$\{value\} \(available: \$\{map\}, \$\{key\};/);
    assert.throws(() => compile(MAP, ['positive-reply=OK ${vaule}']), /positive-reply: unknown variable \$\{vaule\}/);
    assert.throws(() => compile(MAP, ['positive-reply=']), /positive-reply is empty/);
  });

  it('keeps the status word fixed whatever a variable holds', () => {
    const r = compile(MAP, ['positive-reply=${value}']);
    assert.equal(r.positive.render(() => 'PERM injected'), 'OK PERM injected');
  });

  it('accepts positions where asked, and rejects them where there is no row', () => {
    const r = compile(SQL, ['positive-reply=OK ${2} for ${1} (${name})']);
    assert.deepEqual(r.positive.variables.map((v) => replyPosition(v) ?? v), [2, 1, 'name']);
    assert.throws(() => compile(SQL, ['positive-reply=OK ${0}']), /column numbers start at 1/);
    assert.throws(() => compile(SQL, ['negative-reply=NOTFOUND ${1}']), /negative-reply: unknown variable \$\{1\} \(available: \$\{key\};/);
  });

  it('uses an explicit onerror-reply= for timeouts unless timeout-reply= is given', () => {
    const defaults = compile(SQL, []);
    assert.equal(defaults.onerror!.render((n) => (n === 'error' ? 'down' : undefined)), 'TEMP down');
    assert.equal(defaults.timeout!.render((n) => (n === 'error' ? 'slow' : undefined)), 'TIMEOUT slow');
    const failOpen = compile(SQL, ['onerror-reply=NOTFOUND']);
    assert.equal(failOpen.timeout!.constant, 'NOTFOUND ');
    const both = compile(SQL, ['onerror-reply=NOTFOUND', 'timeout-reply=TEMP slow']);
    assert.equal(both.timeout!.constant, 'TEMP slow');
  });
});
