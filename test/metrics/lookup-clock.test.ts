/**
 * The lookup clock: the lookups answered at once during one read share the read's two clock readings, each
 * counted with an even share of the read's time; a lookup outside a read, or answered later, is timed alone.
 * On a real smapd, every lookup of a pipelined read is counted and the read's whole time is in the sum.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { LATENCY_BUCKETS_SECONDS, LatencyHistogram, LookupClock } from '../../src/metrics/latency.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { connectRaw, readBytes } from '../helpers/raw.js';

/** Holds the event loop for `ms` (a slow synchronous step). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** How many lookups of `h` lie in buckets whose bound is below `seconds`. */
function countBelow(h: LatencyHistogram, seconds: number): number {
  const s = h.snapshot();
  return LATENCY_BUCKETS_SECONDS.reduce((n, le, i) => (le < seconds ? n + s.counts[i]! : n), 0);
}

describe('LookupClock', () => {
  it('shares a read among the lookups answered in it, and records each at the end of the read', () => {
    const clock = new LookupClock();
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const readAt = clock.startRead();
    assert.equal(clock.start(), readAt, 'a lookup in a read starts with the read');
    clock.answered(a, clock.start());
    spin(40);
    clock.answered(b, clock.start());
    clock.answered(a, clock.start());
    assert.equal(a.snapshot().count + b.snapshot().count, 0, 'nothing is recorded before the read ends');
    clock.endRead();
    const sa = a.snapshot();
    const sb = b.snapshot();
    assert.equal(sa.count, 2);
    assert.equal(sb.count, 1);
    // Three even shares of at least 40 ms: each above the 10 ms bound, none in the lower buckets.
    assert.equal(countBelow(a, 0.01) + countBelow(b, 0.01), 0);
    assert.ok(Math.abs(sa.sum - 2 * sb.sum) < 1e-9, `${sa.sum} vs ${sb.sum}`);
    assert.ok(sa.sum + sb.sum >= 0.04);
  });

  it('times a lookup outside a read alone, from its own start', () => {
    const clock = new LookupClock();
    const h = new LatencyHistogram();
    const started = clock.start();
    spin(30);
    clock.answered(h, started);
    const s = h.snapshot();
    assert.equal(s.count, 1);
    assert.ok(s.sum >= 0.03, String(s.sum));
    clock.startRead();
    clock.endRead();
    assert.equal(h.snapshot().count, 1, 'an empty read records nothing');
  });
});

describe('lookup latency of a pipelined read on a running smapd', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon('server s inet://127.0.0.1:0\nmodule t testmod\ndatabase db t\ndispatch default database db\n');
  });
  after(() => d.stop());

  it('counts every lookup of the read, each with its share of the read, the whole read in the sum', async () => {
    const spinMs = 300;
    const keys = ['a', `spin:${spinMs}`, 'b', 'c'];
    const s = await connectRaw(d.url());
    // One write: the four requests arrive in one read (loopback, 40-odd bytes).
    s.write(keys.map((k) => encodeNetstring(`m ${k}`)).join(''));
    const replies = ['OK m/a', 'OK spun', 'OK m/b', 'OK m/c'].map(encodeNetstring).join('');
    assert.equal(await readBytes(s, Buffer.byteLength(replies)), replies);
    s.destroy();
    const latency = d.daemon.currentRuntime.registry.databases.get('db')!.latency;
    const h = latency.snapshot();
    assert.equal(h.count, 4);
    assert.ok(h.sum >= spinMs / 1000, String(h.sum));
    // Four shares of at least 75 ms each: none below the 50 ms bound.
    assert.equal(countBelow(latency, 0.075), 0, JSON.stringify(h.counts));
  });
});
