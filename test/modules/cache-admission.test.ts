/**
 * The result cache's admission policy (src/modules/cache-admission.ts): a full cache whose hit ratio is low
 * keeps only a sample of the misses, so that a stream of keys it cannot hold stops costing an insert and an
 * eviction per lookup, while a key asked again and again still gets its entry, and the sample returns to
 * every miss once the hits are back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnInfo } from '../../src/modules/api.js';
import { ADMISSION_WINDOW, MAX_ONE_IN } from '../../src/modules/cache-admission.js';
import { ResultCache } from '../../src/modules/cache.js';
import { rng } from '../helpers/rng.js';
import * as R from '../../src/protocol/reply.js';

const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };


/** Ask `key` the way the database handle does: a miss is answered by the backend and offered to the cache. */
function ask(c: ResultCache, key: string): boolean {
  if (c.get('m', key, conn) !== undefined) return true;
  c.set('m', key, conn, R.ok(`v-${key}`));
  return false;
}

const SIZE = 100;
const KEYS = 1000;

/** A full cache after enough uniformly random lookups over ten times its size for the sample to settle. */
function settled(next: () => number): ResultCache {
  const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: SIZE, bytes: 1 << 30 });
  for (let i = 0; i < 20 * ADMISSION_WINDOW; i++) ask(c, `k${next() % KEYS}`);
  return c;
}

describe('cache admission', () => {
  it('admits every miss while the cache has room', () => {
    const c = new ResultCache({ ttl: 600000, negativeTtl: 600000, size: SIZE, bytes: 1 << 30 });
    for (let i = 0; i < SIZE; i++) ask(c, `k${i}`);
    const s = c.stats();
    assert.deepEqual({ entries: s.entries, admitted: s.admitted, declined: s.declined }, { entries: SIZE, admitted: SIZE, declined: 0 });
  });

  it('under uniformly random keys, admits a falling share of the misses and keeps the hit ratio', () => {
    const next = rng(3);
    const c = settled(next);
    const before = c.stats();
    assert.equal(before.admitOneIn, MAX_ONE_IN, 'a hit ratio of about a tenth cut admission back to the sparsest sample');
    for (let i = 0; i < 10 * ADMISSION_WINDOW; i++) ask(c, `k${next() % KEYS}`);
    const s = c.stats();
    const misses = s.misses - before.misses;
    const admitted = s.admitted - before.admitted;
    const declined = s.declined - before.declined;
    assert.equal(admitted + declined, misses, 'every miss is either admitted or declined');
    assert.ok(admitted * 8 < misses, `admitted ${admitted} of ${misses} misses`);
    assert.equal(s.evictions - before.evictions, admitted, 'a full cache evicts once per admitted miss, no more');
    // The cache holds SIZE of KEYS keys, whichever they are: the hit ratio stays about SIZE / KEYS.
    const ratio = (s.hits - before.hits) / (10 * ADMISSION_WINDOW);
    assert.ok(ratio > 0.07 && ratio < 0.13, `hit ratio ${ratio}`);
    assert.equal(s.entries, SIZE);
  });

  it('still caches a new key that is asked again and again', () => {
    const next = rng(7);
    const c = settled(next);
    assert.equal(c.stats().admitOneIn, MAX_ONE_IN);
    // One lookup in ten is for a key the cache has never seen; the rest stay random.
    let asks = 0;
    let firstHit = -1;
    for (let i = 0; i < 4000 && firstHit < 0; i++) {
      if (i % 10 === 0) {
        asks++;
        if (ask(c, 'newly-hot')) firstHit = asks;
      } else ask(c, `k${next() % KEYS}`);
    }
    // Admitted after about MAX_ONE_IN misses on average; 400 asks leave it a chance of (31/32)^400 to miss.
    assert.ok(firstHit > 0, 'the hot key was never cached');
    // Once in, a key asked this often stays at the front of the list and is never evicted.
    for (let i = 0; i < 2000; i++) {
      if (i % 10 === 0) assert.equal(ask(c, 'newly-hot'), true, `ask ${i} of the hot key missed`);
      else ask(c, `k${next() % KEYS}`);
    }
  });

  it('goes back to admitting every miss once the hit ratio rises', () => {
    const next = rng(9);
    const c = settled(next);
    assert.equal(c.stats().admitOneIn, MAX_ONE_IN);
    // A hot set of half the cache: it gets in, then almost every lookup hits.
    for (let i = 0; i < 10 * ADMISSION_WINDOW; i++) ask(c, `hot${next() % (SIZE / 2)}`);
    assert.equal(c.stats().admitOneIn, 1);
  });

  it('starts over after a flush', () => {
    const c = settled(rng(11));
    c.clear();
    assert.equal(c.stats().admitOneIn, 1);
    for (let i = 0; i < SIZE; i++) ask(c, `fresh${i}`);
    assert.equal(c.stats().entries, SIZE);
  });
});
