import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedResources } from '../../src/modules/api.js';

interface Fake {
  readonly key: string;
  readonly arg: number;
  closed: boolean;
}

function table(failFirst = 0) {
  const log: string[] = [];
  let failures = failFirst;
  const res = new SharedResources<Fake, number>({
    async open(key, arg) {
      log.push(`open ${key} ${arg}`);
      await Promise.resolve();
      if (failures > 0) {
        failures--;
        throw new Error(`cannot open ${key}`);
      }
      return { key, arg, closed: false };
    },
    close(r) {
      log.push(`close ${r.key}`);
      r.closed = true;
    },
  });
  return { res, log };
}

describe('SharedResources (the counted shared resource of the module kit)', () => {
  it('opens once per key for concurrent holders and closes when the last one lets go', async () => {
    const { res, log } = table();
    const [a, b] = await Promise.all([res.acquire('x', 1), res.acquire('x', 2)]);
    assert.equal(a, b);
    assert.equal(a.arg, 1, 'the first acquire opens it');
    assert.equal(res.holders('x'), 2);
    const c = await res.acquire('y', 3);
    assert.notEqual(c, a);
    await res.release('x');
    assert.equal(a.closed, false);
    await res.release('x');
    assert.equal(a.closed, true);
    assert.equal(res.size, 1);
    await res.release('y');
    assert.equal(res.size, 0);
    assert.deepEqual(log, ['open x 1', 'open y 3', 'close x', 'close y']);
  });

  it('passes an open failure to every waiting holder, keeps nothing, and tries again next time', async () => {
    const { res, log } = table(1);
    const results = await Promise.allSettled([res.acquire('x', 1), res.acquire('x', 1)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(res.size, 0);
    assert.equal(res.holders('x'), 0);
    const r = await res.acquire('x', 2);
    assert.equal(r.arg, 2);
    assert.deepEqual(log, ['open x 1', 'open x 2']);
    await res.release('x');
    await res.release('x');
    assert.deepEqual(log, ['open x 1', 'open x 2', 'close x'], 'a release too many is ignored');
  });

  it('opens afresh after the last release', async () => {
    const { res } = table();
    const a = await res.acquire('x', 1);
    await res.release('x');
    const b = await res.acquire('x', 2);
    assert.notEqual(a, b);
    assert.equal(b.closed, false);
    await res.release('x');
  });
});
