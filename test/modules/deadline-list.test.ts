import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineModule, type ConnInfo } from '../../src/modules/api.js';
import { DeadlineList } from '../../src/modules/deadline-list.js';
import { DatabaseHandleImpl } from '../../src/modules/handle.js';
import * as R from '../../src/protocol/reply.js';
import { silentLogger } from '../helpers/module-context.js';

/** Resolves with the time `add`'s expiry ran (performance.now()). */
function expiry(list: DeadlineList, ms: number, order: number[], tag: number) {
  const added = performance.now();
  let resolve!: (elapsed: number) => void;
  const p = new Promise<number>((r) => (resolve = r));
  const d = list.add(ms, () => {
    order.push(tag);
    resolve(performance.now() - added);
  });
  return { d, p };
}

describe('DeadlineList', () => {
  it('expires each wait no earlier than its own deadline, in deadline order, also when added out of order', async () => {
    const list = new DeadlineList();
    const order: number[] = [];
    const a = expiry(list, 120, order, 120);
    const b = expiry(list, 40, order, 40);
    const c = expiry(list, 80, order, 80);
    const elapsed = await Promise.all([a.p, b.p, c.p]);
    assert.deepEqual(order, [40, 80, 120]);
    // Each one waited at least its own time (a monotonic clock; 1 ms of timer rounding allowed below).
    assert.ok(elapsed[0]! >= 119 && elapsed[1]! >= 39 && elapsed[2]! >= 79, `waited ${elapsed.join(', ')} ms`);
    assert.equal(list.size, 0);
  });

  it('a removed wait never expires; remove after expiry says the answer is late', async () => {
    const list = new DeadlineList();
    const order: number[] = [];
    const kept = expiry(list, 30, order, 1);
    const gone = expiry(list, 20, order, 2);
    assert.equal(list.remove(gone.d), true);
    assert.equal(list.size, 1);
    await kept.p;
    await sleep(30);
    assert.deepEqual(order, [1]);
    assert.equal(list.remove(kept.d), false, 'already expired');
    assert.equal(list.remove(gone.d), false, 'already removed');
    assert.equal(list.size, 0);
  });

  it('keeps working after it has been empty: waits added later still expire', async () => {
    const list = new DeadlineList();
    const order: number[] = [];
    const first = expiry(list, 200, order, 1);
    list.remove(first.d);
    // The timer armed for the first wait is still pending (unreferenced); the new one must re-reference it.
    const second = expiry(list, 250, order, 2);
    assert.ok((await second.p) >= 249);
    assert.deepEqual(order, [2]);
  });
});

describe('DatabaseHandle async timeouts (one timer for all lookups)', () => {
  const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };
  const mod = defineModule<null>({
    apiVersion: 1,
    capabilities: ['query'],
    initDb: () => null,
    // The key says how long the answer takes, in ms; 'reject' fails after 10 ms.
    query: (_db, _map, key) =>
      key === 'reject' ? sleep(10).then(() => Promise.reject(new Error('backend gone'))) : sleep(Number(key)).then(() => R.ok(key)),
  });

  it('many lookups at once: each slow one answers TIMEOUT, each fast one its value, a late answer is dropped', async () => {
    const h = new DatabaseHandleImpl('db1', 'm', mod, null, silentLogger, 100, undefined);
    const keys: string[] = [];
    for (let i = 0; i < 200; i++) keys.push(i % 4 === 0 ? '300' : i % 4 === 1 ? 'reject' : String(i % 30));
    const replies = await Promise.all(keys.map((k) => h.query('m', k, conn)));
    replies.forEach((r, i) => {
      const k = keys[i]!;
      const want = k === '300' ? 'TIMEOUT database timeout' : k === 'reject' ? 'TEMP database error' : `OK ${k}`;
      assert.equal(r, want, `lookup ${i} (${k})`);
    });
    assert.equal(h.stats.timeouts, 50);
    assert.equal(h.stats.errors, 50);
    // The timed-out lookups' answers come later and change nothing.
    await sleep(250);
    assert.equal(h.stats.timeouts, 50);
  });
});
