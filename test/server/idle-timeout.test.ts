/**
 * The idle timeout, bounded on both sides: a connection is closed no earlier than `idle-timeout` after its
 * last answer, and is closed at all (a timeout that never fires fails here within seconds instead of hanging
 * the suite). Supersedes the unbounded "closes idle connections after idle-timeout" in server.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SmapClient } from '../../src/client/client.js';
import { startDaemon } from '../helpers/daemon.js';

const IDLE_MS = 400;
/** A timer may fire up to a millisecond before its time by performance.now() (libuv's loop time is in ms). */
const SLACK_MS = 2;
/** Far above IDLE_MS, for a loaded machine; the test fails rather than waits longer. */
const CLOSE_WITHIN_MS = 8000;

/** Ms from `since` (default now) until the server closes `c`; rejects after `limit` ms. */
function msUntilClosed(c: SmapClient, limit: number, since = performance.now()): Promise<number> {
  const started = since;
  let timer: NodeJS.Timeout | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not close the idle connection within ${limit} ms`)), limit);
  });
  return Promise.race([c.closed.then(() => performance.now() - started), never]).finally(() => clearTimeout(timer));
}

const BACKEND = 'module t testmod\ndatabase test t\ndispatch default database test\n';

describe('idle-timeout', () => {
  it('closes a connection idle-timeout after its last answer, not before', async () => {
    const d = await startDaemon(`idle-timeout ${IDLE_MS}ms\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
    try {
      const c = await d.client();
      // Counted from before the request is sent: the server reads it later still, so the connection may not
      // close sooner than IDLE_MS after this, however late either side's event loop runs on a loaded machine.
      const sent = performance.now();
      assert.equal(await c.query('test', 'a'), 'OK test/a');
      const took = await msUntilClosed(c, CLOSE_WITHIN_MS, sent);
      assert.ok(took >= IDLE_MS - SLACK_MS, `closed ${took.toFixed(0)} ms after the request, before the ${IDLE_MS} ms idle timeout`);
    } finally {
      await d.stop();
    }
  });

  it('counts idleness from the last answer, also after a lookup slower than the timeout', async () => {
    const d = await startDaemon(`idle-timeout ${IDLE_MS}ms\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
    try {
      const c = await d.client();
      // A request busy for longer than the idle timeout is not idleness: the connection must stay. The answer
      // leaves IDLE_MS * 2 after the request at the earliest, and idleness counts from there.
      const sent = performance.now();
      assert.equal(await c.query('test', `sleep:${IDLE_MS * 2}`), `OK slept ${IDLE_MS * 2}`);
      const took = await msUntilClosed(c, CLOSE_WITHIN_MS, sent + IDLE_MS * 2);
      assert.ok(took >= IDLE_MS - SLACK_MS, `closed ${took.toFixed(0)} ms after the slow answer`);
    } finally {
      await d.stop();
    }
  });

  it('keeps a connection that sends within each idle-timeout open across many of them, then closes it', async () => {
    // The timer is not pushed back by each read; it fires, finds the connection active since, and is set
    // again for the rest of the time.
    const d = await startDaemon(`idle-timeout ${IDLE_MS}ms\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
    try {
      const c = await d.client();
      const until = performance.now() + IDLE_MS * 4;
      let n = 0;
      let lastSent = 0;
      for (;;) {
        lastSent = performance.now();
        assert.equal(await c.query('test', `k${n}`), `OK test/k${n}`);
        n++;
        if (performance.now() >= until) break;
        await new Promise((r) => setTimeout(r, IDLE_MS / 4));
      }
      assert.ok(n >= 5, `${n} requests`);
      // Counted from the last request's sending (see the first test): a sleep or a reply that a loaded machine
      // stretches must not eat the margin.
      const took = await msUntilClosed(c, CLOSE_WITHIN_MS, lastSent);
      assert.ok(took >= IDLE_MS - SLACK_MS, `closed ${took.toFixed(0)} ms after the last request`);
    } finally {
      await d.stop();
    }
  });

  it("a server block's idle-timeout overrides the global one", async () => {
    const d = await startDaemon(`idle-timeout 0\nserver tcp inet://127.0.0.1:0 begin\n idle-timeout ${IDLE_MS}ms\nend\nserver never inet://127.0.0.1:0\n${BACKEND}`);
    try {
      const timed = await d.client('tcp');
      const forever = await d.client('never');
      const sent = performance.now();
      assert.equal(await timed.query('test', 'a'), 'OK test/a');
      assert.equal(await forever.query('test', 'b'), 'OK test/b');
      const took = await msUntilClosed(timed, CLOSE_WITHIN_MS, sent);
      assert.ok(took >= IDLE_MS - SLACK_MS, `closed ${took.toFixed(0)} ms after the request`);
      // `idle-timeout 0` is never: the other connection, idle for as long, still answers.
      assert.equal(await forever.query('test', 'c'), 'OK test/c');
    } finally {
      await d.stop();
    }
  });
});
