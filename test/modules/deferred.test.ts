/**
 * Deferred: the answer a module may return instead of a promise. Listeners hear it once, synchronously at
 * settlement (or at once when it has settled), a throwing listener reaches neither the settler nor the other
 * listeners, and `await` works on it as on a promise.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Deferred } from '../../src/modules/api.js';
import { nextUncaughtException } from '../helpers/uncaught.js';

describe('Deferred', () => {
  it('tells every listener the value, in order, when it is resolved, and a late listener at once', () => {
    const d = new Deferred<string>();
    const heard: string[] = [];
    d.whenSettled((v) => heard.push(`a:${v}`), () => heard.push('a:error'));
    d.whenSettled((v) => heard.push(`b:${v}`), () => heard.push('b:error'));
    assert.equal(d.settled, false);
    assert.equal(heard.length, 0);
    d.resolve('x');
    assert.equal(d.settled, true);
    assert.deepEqual(heard, ['a:x', 'b:x']);
    d.whenSettled((v) => heard.push(`c:${v}`), () => heard.push('c:error'));
    assert.deepEqual(heard, ['a:x', 'b:x', 'c:x']);
  });

  it('settles once: later resolves and rejects are ignored', () => {
    const d = new Deferred<number>();
    const heard: unknown[] = [];
    d.whenSettled((v) => heard.push(v), (err) => heard.push(err));
    const boom = new Error('boom');
    d.reject(boom);
    d.resolve(1);
    d.reject(new Error('again'));
    assert.deepEqual(heard, [boom]);
  });

  it('works with await and then, for a value and for an error', async () => {
    const ok = new Deferred<string>();
    setImmediate(() => ok.resolve('later'));
    assert.equal(await ok, 'later');
    const bad = new Deferred<string>();
    setImmediate(() => bad.reject(new Error('nope')));
    await assert.rejects(Promise.resolve(bad), /nope/);
    const done = new Deferred<number>();
    done.resolve(2);
    assert.equal(await done.then((v) => v * 3), 6);
  });

  it('keeps a throwing listener from the code that settled it and from the listeners after it', async () => {
    const d = new Deferred<string>();
    const heard: string[] = [];
    d.whenSettled(() => {
      throw new Error('listener bug');
    }, () => undefined);
    d.whenSettled((v) => heard.push(v), () => undefined);
    const uncaught = nextUncaughtException();
    assert.doesNotThrow(() => d.resolve('v'));
    assert.deepEqual(heard, ['v']);
    const err = await uncaught;
    assert.match((err as Error).message, /listener bug/);
  });
});
