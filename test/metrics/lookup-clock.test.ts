/**
 * The lookup clock: one clock reading per lookup, each lookup of a read timed from the end of the one before
 * it. On a real smapd, a slow synchronous lookup in a pipelined read keeps its own time and lends none of it to
 * the lookups after it in the same read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { LATENCY_BUCKETS_SECONDS, LookupClock } from '../../src/metrics/latency.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { connectRaw, readBytes } from '../helpers/raw.js';

describe('LookupClock', () => {
  it('outside a read, a lookup reads the clock at its start; inside, it starts at the latest mark', () => {
    const clock = new LookupClock();
    const a = clock.start();
    const b = clock.start();
    assert.ok(b >= a, 'outside a read each start is a fresh reading');
    const mark = clock.startRead();
    assert.equal(clock.start(), mark);
    assert.equal(clock.start(), mark, 'starting a lookup does not move the mark');
    const took = clock.lap(mark);
    assert.ok(took >= 0);
    assert.equal(clock.start(), mark + took, "a lookup's end is the next lookup's start");
    clock.endRead();
    const outside = clock.start();
    clock.lap(outside);
    assert.ok(clock.start() >= outside, 'outside a read a lap leaves no mark');
  });
});

describe('lookup latency of a pipelined read on a running smapd', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon('server s inet://127.0.0.1:0\nmodule t testmod\ndatabase db t\ndispatch default database db\n');
  });
  after(() => d.stop());

  it('counts every lookup of the read, and times the slow one alone', async () => {
    const spinMs = 300;
    const keys = ['a', `spin:${spinMs}`, 'b', 'c'];
    const s = await connectRaw(d.url());
    // One write: the four requests arrive in one read (loopback, 40-odd bytes).
    s.write(keys.map((k) => encodeNetstring(`m ${k}`)).join(''));
    const replies = ['OK m/a', 'OK spun', 'OK m/b', 'OK m/c'].map(encodeNetstring).join('');
    assert.equal(await readBytes(s, Buffer.byteLength(replies)), replies);
    s.destroy();
    const h = d.daemon.currentRuntime.registry.databases.get('db')!.latency.snapshot();
    assert.equal(h.count, 4);
    const slowFrom = LATENCY_BUCKETS_SECONDS.findIndex((le) => le >= spinMs / 1000);
    const atOrPast = h.counts.slice(slowFrom).reduce((x, y) => x + y, 0);
    assert.equal(atOrPast, 1, `one lookup at ${spinMs} ms or more: ${JSON.stringify(h.counts)}`);
    assert.ok(h.sum >= spinMs / 1000, String(h.sum));
  });
});
