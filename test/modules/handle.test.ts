import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deferred, defineModule, type ConnInfo, type Reply } from '../../src/modules/api.js';
import { ResultCache } from '../../src/modules/cache.js';
import { DatabaseHandleImpl } from '../../src/modules/handle.js';
import { currentScope } from '../../src/modules/scope.js';
import * as R from '../../src/protocol/reply.js';
import { silentLogger } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };

interface State {
  opens: number;
  failOpen: boolean;
  calls: number;
}

const mod = defineModule<State>({
  apiVersion: 1,
  capabilities: ['query', 'transform'],
  initDb: () => ({ opens: 0, failOpen: false, calls: 0 }),
  async openDb(db) {
    db.opens++;
    await sleep(5);
    if (db.failOpen) throw new Error('connection refused');
  },
  query(db, map, key) {
    db.calls++;
    if (key === 'throw') throw new Error('boom');
    if (key === 'slow') return sleep(200).then(() => R.ok('late'));
    if (key === 'async') return Promise.resolve(R.ok(`${map}:${key}`));
    if (key.startsWith('deferred')) return deferredAnswer(key);
    if (key === 'missing') return R.NOTFOUND;
    return R.ok(`${map}:${key}`);
  },
  transform(_db, input) {
    if (input === 'throw') throw new Error('xform boom');
    return input === 'same' ? null : input.toUpperCase();
  },
});

/** `deferred`: answered a moment later; `deferred-never`: never; `deferred-fail`: rejected; `deferred-now`: settled before it is returned. */
function deferredAnswer(key: string): Deferred<Reply> {
  const d = new Deferred<Reply>();
  if (key === 'deferred') setImmediate(() => d.resolve(R.ok('from a deferred')));
  else if (key === 'deferred-fail') setImmediate(() => d.reject(new Error('backend gone')));
  else if (key === 'deferred-now') d.resolve(R.ok('settled at once'));
  return d;
}

function handle(state: State, timeoutMs = 0, cache?: ResultCache) {
  return new DatabaseHandleImpl('db1', 'm', mod, state, silentLogger, timeoutMs, cache);
}

describe('DatabaseHandle', () => {
  it('opens lazily, once, for concurrent first queries', async () => {
    const st: State = { opens: 0, failOpen: false, calls: 0 };
    const h = handle(st);
    assert.equal(st.opens, 0);
    const rs = await Promise.all([h.query('m', 'a', conn), h.query('m', 'b', conn), h.query('m', 'c', conn)]);
    assert.deepEqual(rs, ['OK m:a', 'OK m:b', 'OK m:c']);
    assert.equal(st.opens, 1);
    // Once open, a sync module answers synchronously (no promise on the hot path).
    assert.equal(h.query('m', 'd', conn), 'OK m:d');
  });

  it('answers TEMP while the backend cannot be opened, then recovers', async () => {
    const st: State = { opens: 0, failOpen: true, calls: 0 };
    const h = handle(st);
    const r1 = await h.query('m', 'a', conn);
    assert.equal(r1, 'TEMP database unavailable');
    // Within the back-off the open is not retried.
    const r2 = await h.query('m', 'a', conn);
    assert.match(r2, /^TEMP /);
    assert.equal(st.opens, 1);
    st.failOpen = false;
    await sleep(1100);
    assert.equal(await h.query('m', 'a', conn), 'OK m:a');
    assert.equal(st.opens, 2);
  });

  it('turns a throwing query into TEMP with a short reason', async () => {
    const h = handle({ opens: 0, failOpen: false, calls: 0 });
    assert.equal(await h.query('m', 'throw', conn), 'TEMP database error');
    assert.equal(h.stats.errors, 1);
  });

  it('answers TIMEOUT when an async query outlives the timeout, and keeps answering others', async () => {
    const h = handle({ opens: 0, failOpen: false, calls: 0 }, 50);
    await h.open();
    const [slow, fast] = await Promise.all([h.query('m', 'slow', conn), h.query('m', 'async', conn)]);
    assert.equal(slow, 'TIMEOUT database timeout');
    assert.equal(fast, 'OK m:async');
    assert.equal(h.stats.timeouts, 1);
  });

  it('takes an answer from a Deferred: value, rejection as TEMP, settled at once, and TIMEOUT when it never comes', async () => {
    const st: State = { opens: 0, failOpen: false, calls: 0 };
    for (const timeoutMs of [0, 50]) {
      const h = handle(st, timeoutMs);
      await h.open();
      assert.equal(await h.query('m', 'deferred', conn), 'OK from a deferred');
      assert.equal(await h.query('m', 'deferred-now', conn), 'OK settled at once');
      assert.match(await h.query('m', 'deferred-fail', conn), /^TEMP /);
    }
    const h = handle(st, 50);
    await h.open();
    assert.match(await h.query('m', 'deferred-never', conn), /^TIMEOUT /);
    assert.equal(h.stats.timeouts, 1);
  });

  it("passes a Deferred's answer on as smapd's own code, outside the module's scope", async () => {
    const inner = new Deferred<Reply>();
    const scoped = defineModule<null>({
      apiVersion: 1,
      capabilities: ['query'],
      initDb: () => null,
      query: () => {
        // Settled from a callback the module made, so in its scope.
        setImmediate(() => inner.resolve(R.ok('late')));
        return inner;
      },
    });
    const h = new DatabaseHandleImpl('db2', 'm', scoped, null, silentLogger, 1000, undefined);
    const answer = h.query('m', 'k', conn);
    assert.ok(answer instanceof Deferred, 'no promise per lookup');
    const heard = await new Promise<[string, unknown]>((resolve) =>
      answer.whenSettled(
        (reply) => resolve([reply, currentScope()]),
        (err) => resolve(['error', err]),
      ),
    );
    assert.deepEqual(heard, ['OK late', undefined]);
  });

  it('transforms, keeps the value on null, and reads a failure as null', async () => {
    const h = handle({ opens: 0, failOpen: false, calls: 0 });
    assert.equal(await h.transform('abc', conn), 'ABC');
    assert.equal(h.transform('same', conn), null);
    assert.equal(h.transform('throw', conn), null);
  });

  it('serves repeated lookups from the cache, positive and negative, and not failures', async () => {
    const st: State = { opens: 0, failOpen: false, calls: 0 };
    const cache = new ResultCache({ ttl: 60000, negativeTtl: 60000, size: 100, bytes: 1 << 20 });
    const h = handle(st, 0, cache);
    await h.open();
    assert.equal(h.query('m', 'a', conn), 'OK m:a');
    assert.equal(h.query('m', 'a', conn), 'OK m:a');
    assert.equal(h.query('m', 'missing', conn), 'NOTFOUND ');
    assert.equal(h.query('m', 'missing', conn), 'NOTFOUND ');
    assert.equal(await h.query('m', 'throw', conn), 'TEMP database error');
    assert.equal(await h.query('m', 'throw', conn), 'TEMP database error');
    assert.equal(st.calls, 4);
    assert.deepEqual({ hits: cache.stats().hits, entries: cache.stats().entries }, { hits: 2, entries: 2 });
  });
});

describe('ResultCache', () => {
  it('evicts the least recently used entry past its size', () => {
    const c = new ResultCache({ ttl: 60000, negativeTtl: 0, size: 2, bytes: 1 << 20 });
    c.set('m', 'a', conn, R.ok('1'));
    c.set('m', 'b', conn, R.ok('2'));
    assert.equal(c.get('m', 'a', conn), 'OK 1'); // a is now the most recent
    c.set('m', 'c', conn, R.ok('3'));
    assert.equal(c.get('m', 'b', conn), undefined);
    assert.equal(c.get('m', 'a', conn), 'OK 1');
    assert.equal(c.get('m', 'c', conn), 'OK 3');
    assert.equal(c.stats().evictions, 1);
  });

  it('is bounded in bytes', () => {
    const c = new ResultCache({ ttl: 60000, negativeTtl: 0, size: 1000, bytes: 1000 });
    for (let i = 0; i < 50; i++) c.set('m', `k${i}`, conn, R.ok('v'.repeat(100)));
    assert.ok(c.stats().bytes <= 1000, `bytes ${c.stats().bytes}`);
    assert.ok(c.stats().entries < 50);
  });

  it('does not cache negative answers when negative-ttl is 0, and expires entries', async () => {
    const c = new ResultCache({ ttl: 20, negativeTtl: 0, size: 10, bytes: 1 << 20 });
    c.set('m', 'x', conn, R.NOTFOUND);
    assert.equal(c.get('m', 'x', conn), undefined);
    c.set('m', 'y', conn, R.ok('v'));
    assert.equal(c.get('m', 'y', conn), 'OK v');
    await sleep(40);
    assert.equal(c.get('m', 'y', conn), undefined);
  });

  it('keys entries by map and key only when the answers depend on nothing else', () => {
    const c = new ResultCache({ ttl: 60000, negativeTtl: 0, size: 10, bytes: 1 << 20 }, []);
    c.set('m', 'k', conn, R.ok('one'));
    assert.equal(c.get('m', 'k', { ...conn, src: '10.0.0.9', serverId: 'other' }), 'OK one');
  });

  it('keeps answers for different clients apart on the connection facts the database depends on', () => {
    const other = { ...conn, src: '10.0.0.9' };
    const bySrc = new ResultCache({ ttl: 60000, negativeTtl: 0, size: 10, bytes: 1 << 20 }, ['src']);
    bySrc.set('m', 'k', conn, R.ok('mine'));
    assert.equal(bySrc.get('m', 'k', other), undefined);
    bySrc.set('m', 'k', other, R.ok('theirs'));
    assert.equal(bySrc.get('m', 'k', conn), 'OK mine');
    assert.equal(bySrc.get('m', 'k', other), 'OK theirs');
    assert.equal(bySrc.get('m', 'k', { ...conn, serverId: 'elsewhere', srcPort: 999 }), 'OK mine', 'only src counts here');
    const byServer = new ResultCache({ ttl: 60000, negativeTtl: 0, size: 10, bytes: 1 << 20 }, ['serverId', 'dst']);
    byServer.set('m', 'k', conn, R.ok('a'));
    assert.equal(byServer.get('m', 'k', { ...conn, serverId: 'elsewhere' }), undefined);
    assert.equal(byServer.get('m', 'k', { ...conn, dst: '192.0.2.1' }), undefined);
    assert.equal(byServer.get('m', 'k', other), 'OK a');
  });

  it('keeps maps apart', () => {
    const c = new ResultCache({ ttl: 60000, negativeTtl: 0, size: 10, bytes: 1 << 20 });
    c.set('m1', 'k', conn, R.ok('one'));
    assert.equal(c.get('m2', 'k', conn), undefined);
  });
});
