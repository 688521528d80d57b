import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModuleArgumentError } from '../../src/errors.js';
import { moduleContext } from '../helpers/module-context.js';

const ctx = moduleContext();

describe('reply templates (ctx.compileReply)', () => {
  it('fixes the status word when the template is compiled', () => {
    const t = ctx.compileReply('TEMP lookup of ${key} failed', ['key'], 'onerror-reply');
    assert.equal(t.render((n) => (n === 'key' ? 'a b' : undefined)), 'TEMP lookup of a b failed');
  });

  it('never lets a value choose the status', () => {
    const t = ctx.compileReply('${value}', ['value'], 'positive-reply');
    assert.equal(t.render(() => 'PERM injected'), 'OK PERM injected');
    const n = ctx.compileReply('NOTFOUND ${value}', ['value'], 'negative-reply');
    assert.equal(n.render(() => 'OK really'), 'NOTFOUND OK really');
  });

  it('precomputes a template without variables', () => {
    const t = ctx.compileReply('nomore', [], 'negative-reply');
    assert.equal(t.constant, 'NOMORE ');
    assert.equal(t.render(() => 'x'), 'NOMORE ');
  });

  it('rejects unknown variables when the caller lists them, and accepts any name otherwise', () => {
    assert.throws(() => ctx.compileReply('OK ${vlaue}', ['value'], 'positive-reply'), (e: unknown) => e instanceof ModuleArgumentError && /positive-reply: unknown variable \$\{vlaue\}/.test(e.message));
    assert.deepEqual(ctx.compileReply('OK ${alias} ${note}', undefined, 'positive-reply').variables, ['alias', 'note']);
  });

  it('rejects an empty template', () => {
    assert.throws(() => ctx.compileReply('   ', [], 'positive-reply'), /positive-reply is empty/);
  });
});
