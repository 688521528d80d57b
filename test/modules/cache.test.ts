/**
 * The result cache under churn: a full cache that evicts on every miss must stay exact (the same order,
 * bounds and stats as a plain reference LRU) and must never scan its table to find the entry to evict, which
 * is what made a full cache cost more than it saved (docs/performance.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnInfo } from '../../src/modules/api.js';
import { ResultCache } from '../../src/modules/cache.js';
import { rng } from '../helpers/rng.js';
import * as R from '../../src/protocol/reply.js';

const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };


/** The reference: an array from most to least recently used, bounded by entry count only. */
class ModelLru {
  readonly order: string[] = [];
  readonly values = new Map<string, string>();
  evictions = 0;
  constructor(private readonly size: number) {}
  get(k: string): string | undefined {
    const v = this.values.get(k);
    if (v === undefined) return undefined;
    this.order.splice(this.order.indexOf(k), 1);
    this.order.unshift(k);
    return v;
  }
  set(k: string, v: string): void {
    if (this.values.has(k)) this.order.splice(this.order.indexOf(k), 1);
    this.order.unshift(k);
    this.values.set(k, v);
    while (this.order.length > this.size) {
      this.values.delete(this.order.pop()!);
      this.evictions++;
    }
  }
}

describe('ResultCache under churn', () => {
  it('matches a reference LRU exactly while it evicts on almost every miss', () => {
    const size = 64;
    const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size, bytes: 1 << 30 });
    const model = new ModelLru(size);
    const next = rng(11);
    let hits = 0;
    let misses = 0;
    for (let i = 0; i < 20000; i++) {
      // A hot set of 32 keys and a long cold tail, so entries both move to the front and fall off the end.
      const r = next();
      const key = r % 3 === 0 ? `hot${r % 32}` : `cold${r % 5000}`;
      const want = model.get(key);
      const got = c.get('m', key, conn);
      assert.equal(got, want === undefined ? undefined : want, `lookup ${i} of ${key}`);
      if (got === undefined) {
        misses++;
        const reply = r % 7 === 0 ? R.NOTFOUND : R.ok(`v${i}`);
        c.set('m', key, conn, reply);
        // The admission policy may turn the answer away (this stream's hit ratio is low); the model follows
        // the cache's choice, and everything else must match it exactly.
        if (c.keysByRecency().next().value === `1:m${key}`) model.set(key, reply);
      } else {
        hits++;
      }
    }
    assert.deepEqual([...c.keysByRecency()], model.order.map((k) => `1:m${k}`));
    const s = c.stats();
    assert.deepEqual(
      { hits: s.hits, misses: s.misses, entries: s.entries, evictions: s.evictions },
      { hits, misses, entries: size, evictions: model.evictions },
    );
    assert.equal(s.admitted + s.declined, misses, 'every miss was either admitted or declined');
    assert.ok(s.declined > 0, 'a full cache with a low hit ratio declined some misses');
    assert.ok(s.evictions > 3000, `the run evicted ${s.evictions} times`);
  });

  it('keeps the byte count exact through replacements, evictions, expiry and clear', () => {
    const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: 1000, bytes: 20000 });
    const next = rng(5);
    for (let i = 0; i < 5000; i++) {
      const r = next();
      c.set('m', `k${r % 300}`, conn, R.ok('x'.repeat(r % 90)));
      if (r % 11 === 0) c.get('m', `k${(r >>> 8) % 300}`, conn);
      const s = c.stats();
      assert.ok(s.bytes <= 20000, `bytes ${s.bytes} over the bound after step ${i}`);
    }
    // Recount from the entries themselves: every entry's size is 2 × (key + reply) + the fixed overhead.
    let recount = 0;
    for (const k of [...c.keysByRecency()]) {
      const reply = c.get('m', k.slice('1:m'.length), conn)!;
      recount += 2 * (k.length + reply.length) + 64;
    }
    assert.equal(c.stats().bytes, recount);
    c.clear();
    assert.deepEqual([c.stats().entries, c.stats().bytes, [...c.keysByRecency()].length], [0, 0, 0]);
    c.set('m', 'again', conn, R.ok('v'));
    assert.equal(c.get('m', 'again', conn), 'OK v');
  });

  it('never lets two different lookups share an entry, whatever bytes map names and keys hold', () => {
    const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: 100, bytes: 1 << 30 });
    const pairs: Array<[string, string]> = [['a\0b', 'c'], ['a', 'b\0c'], ['a\0', 'bc'], ['', 'a\0bc'], ['a\0bc', ''], ['1:a', 'b'], ['1', ':ab']];
    pairs.forEach(([m, k], i) => c.set(m, k, conn, R.ok(`v${i}`)));
    pairs.forEach(([m, k], i) => assert.equal(c.get(m, k, conn), `OK v${i}`, JSON.stringify([m, k])));
    // Per client: the facts end at a NUL they never hold, so a key that starts like a fact stays apart.
    const bySrc = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: 100, bytes: 1 << 30 }, ['src']);
    bySrc.set('m', 'k', { ...conn, src: '10.0.0.1' }, R.ok('one'));
    bySrc.set('m', '1\0k', { ...conn, src: '10.0.0.' }, R.ok('two'));
    assert.equal(bySrc.get('m', 'k', { ...conn, src: '10.0.0.1' }), 'OK one');
    assert.equal(bySrc.get('m', '1\0k', { ...conn, src: '10.0.0.' }), 'OK two');
    assert.equal(bySrc.get('m', '\0k', { ...conn, src: '10.0.0.1' }), undefined);
  });

  it('drops the table of a map name once its last entry goes', () => {
    const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: 2, bytes: 1 << 30 });
    // Map names come from clients: a stream of names asked once must not leave a table behind for each.
    for (let i = 0; i < 1000; i++) c.set(`map${i}`, 'k', conn, R.ok('v'));
    const tables = (c as unknown as { tables: Map<string, unknown> }).tables;
    assert.deepEqual([...tables.keys()], ['map998', 'map999']);
    assert.equal(c.get('map999', 'k', conn), 'OK v');
    assert.equal(c.get('map1', 'k', conn), undefined);
  });

  it('finds the entry to evict without iterating its table', () => {
    const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: 1000, bytes: 1 << 30 });
    for (let i = 0; i < 1000; i++) c.set('m', `k${i}`, conn, R.ok('v'));
    // Count every walk over any Map while the full cache churns: eviction must be O(1), not a walk from the
    // front of the table (which grows with the deleted slots that churn leaves there).
    const proto = Map.prototype as unknown as Record<string | symbol, (...a: unknown[]) => unknown>;
    const names: (string | symbol)[] = ['keys', 'values', 'entries', 'forEach', Symbol.iterator];
    const saved = names.map((n) => proto[n]!);
    let walks = 0;
    names.forEach((n, i) => {
      proto[n] = function (this: unknown, ...a: unknown[]) {
        walks++;
        return saved[i]!.apply(this, a);
      };
    });
    try {
      for (let i = 1000; i < 50000; i++) {
        c.set('m', `k${i}`, conn, R.ok('v'));
        c.get('m', `k${i - 500}`, conn);
      }
    } finally {
      names.forEach((n, i) => (proto[n] = saved[i]!));
    }
    assert.equal(walks, 0);
    assert.equal(c.stats().entries, 1000);
    assert.equal(c.stats().evictions, 49000);
  });
});
