/**
 * Slow or greedy clients cannot lock others out: request-timeout, max-connections-per-address, and the
 * `when-full evict` policy that closes an idle or stalled connection of the busiest address to serve a new
 * client. Refusals are logged once per interval with a count.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { capture } from '../helpers/capture-log.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { connectRaw, readBytes, readUntilClose } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const RULES = 'module t testmod\ndatabase test t\ndispatch default database test\n';

/** A TCP connection from a given loopback address (Linux routes all of 127.0.0.0/8 to lo). */
function connectFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A slowloris connection: it starts a request and never finishes it. */
async function stalling(d: TestDaemon): Promise<net.Socket> {
  const s = await connectFrom('127.0.0.2', d.port());
  s.on('error', () => undefined);
  s.write('100:test partial');
  return s;
}

/** One lookup on its own connection from 127.0.0.1, closed after, as a Postfix process might do. */
async function lookup(d: TestDaemon, key: string): Promise<string> {
  const c = await SmapClient.connect({ url: `inet://127.0.0.1:${d.port()}`, timeoutMs: 5000 });
  try {
    return await c.query('test', key);
  } finally {
    await c.close().catch(() => undefined);
  }
}

describe('request-timeout', () => {
  it('closes a connection whose started request does not complete in time, even if bytes trickle in; idle ones stay', async () => {
    const { log, lines } = capture();
    const d = await startDaemon(`request-timeout 300ms\nserver tcp inet://127.0.0.1:0\n${RULES}`, log);
    const trickle: NodeJS.Timeout[] = [];
    try {
      const idle = await connectRaw(d.url());
      const slow = await connectRaw(d.url());
      slow.on('error', () => undefined);
      const closed = readUntilClose(slow, 5000);
      slow.write('200:test ');
      trickle.push(setInterval(() => slow.writable && slow.write('x'), 30));
      assert.equal(await closed, '');
      assert.equal(d.daemon.stats.requestTimeouts, 1);
      const logged = lines().filter((l) => l.msg === 'request timeout; connection closed');
      assert.equal(logged.length, 1);
      assert.equal(logged[0]!.reason, 'request not completed');

      // The idle connection was never in the middle of a request: it is still served.
      const reply = readBytes(idle, encodeNetstring('OK test/still').length);
      idle.write(encodeNetstring('test still'));
      assert.equal(await reply, encodeNetstring('OK test/still'));
      // A request in two parts that completes in time is answered.
      const split = encodeNetstring('test split');
      const reply2 = readBytes(idle, encodeNetstring('OK test/split').length);
      idle.write(split.slice(0, 5));
      await new Promise((r) => setTimeout(r, 50));
      idle.write(split.slice(5));
      assert.equal(await reply2, encodeNetstring('OK test/split'));
      idle.destroy();
    } finally {
      for (const t of trickle) clearInterval(t);
      await d.stop();
    }
  });

  it('closes a connection that does not read the replies held back for it', async () => {
    const { log, lines } = capture();
    const d = await startDaemon(`request-timeout 300ms\nserver tcp inet://127.0.0.1:0\n${RULES}`, log);
    try {
      const s = await connectRaw(d.url());
      s.on('error', () => undefined);
      s.pause();
      s.write(encodeNetstring('test big:99000').repeat(3000));
      await waitFor(() => d.daemon.stats.requestTimeouts === 1, 'the request timeout');
      await waitFor(() => d.daemon.openConnections === 0, 'the connection to close');
      assert.equal(lines().find((l) => l.msg === 'request timeout; connection closed')?.reason, 'replies not read');
      s.destroy();
    } finally {
      await d.stop();
    }
  });

  it('does not run while a backend is slow', async () => {
    const d = await startDaemon(`request-timeout 100ms\nserver tcp inet://127.0.0.1:0\n${RULES}`);
    try {
      const c = await d.client();
      assert.equal(await c.query('test', 'sleep:400'), 'OK slept 400');
      assert.equal(d.daemon.stats.requestTimeouts, 0);
    } finally {
      await d.stop();
    }
  });
});

describe('a full connection table', () => {
  it('serves lookups from a new address while another fills the table with stalled requests', async () => {
    // The case, scaled down: max-connections 20, stalling connections from 127.0.0.2 keep coming.
    const d = await startDaemon(`max-connections 20\nrequest-timeout 0\nserver tcp inet://127.0.0.1:0\n${RULES}`);
    const attackers: net.Socket[] = [];
    try {
      for (let i = 0; i < 25; i++) attackers.push(await stalling(d));
      await waitFor(() => d.daemon.stats.connectionsTotal === 25, 'the stalling connections');
      // A real client's lookup in flight is not taken from it by the flood.
      const busy = await SmapClient.connect({ url: `inet://127.0.0.1:${d.port()}`, timeoutMs: 5000 });
      const inFlight = busy.query('test', 'sleep:300');
      for (let i = 0; i < 24; i++) {
        attackers.push(await stalling(d), await stalling(d));
        assert.equal(await lookup(d, `k${i}`), `OK test/k${i}`);
      }
      assert.equal(await inFlight, 'OK slept 300');
      await busy.close();
      assert.ok(d.daemon.openConnections <= 20, `${d.daemon.openConnections} open`);
      assert.equal(d.daemon.stats.connectionsRejected, 0);
      assert.ok(d.daemon.stats.connectionsEvicted >= 25 + 24 - 20, `${d.daemon.stats.connectionsEvicted} evicted`);
    } finally {
      for (const s of attackers) s.destroy();
      await d.stop();
    }
  });

  it('with when-full refuse, refuses instead, and logs the refusals once per interval with a count', async () => {
    const { log, lines } = capture();
    const d = await startDaemon(`max-connections 1\nwhen-full refuse\nserver tcp inet://127.0.0.1:0\n${RULES}`, log);
    let stopped = false;
    try {
      const holder = await d.client();
      assert.equal(await holder.query('test', 'a'), 'OK test/a');
      for (let i = 0; i < 40; i++) {
        const s = await connectRaw(d.url());
        assert.equal(await readUntilClose(s), '');
      }
      assert.equal(d.daemon.stats.connectionsRejected, 40);
      const refusals = () => lines().filter((l) => String(l.msg).startsWith('too many connections; closing new one'));
      assert.equal(refusals().length, 1, 'one line for a burst of refusals');
      assert.equal(refusals()[0]!.limit, 'max-connections');
      await d.stop();
      stopped = true;
      // The stop writes out what was counted since.
      assert.equal(refusals().length, 2);
      assert.equal(refusals()[1]!.repeated, 39);
      assert.match(String(refusals()[1]!.msg), /\(39 more since the last such line\)$/);
    } finally {
      if (!stopped) await d.stop();
    }
  });
});

describe('max-connections-per-address', () => {
  const CONFIG = `max-connections-per-address 3\nserver tcp inet://127.0.0.1:0\nserver u unix://@DIR@/s.sock\n${RULES}`;

  it('refuses an address past its limit with when-full refuse; other addresses and unix clients are not affected', async () => {
    const d = await startDaemon(`when-full refuse\n${CONFIG}`);
    const open: net.Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) open.push(await connectFrom('127.0.0.2', d.port('tcp')));
      await waitFor(() => d.daemon.openConnections === 3, 'three connections');
      const fourth = await connectFrom('127.0.0.2', d.port('tcp'));
      assert.equal(await readUntilClose(fourth), '');
      assert.equal(d.daemon.stats.connectionsRejected, 1);
      for (let i = 0; i < 3; i++) assert.equal(await lookup(d, `other${i}`), `OK test/other${i}`);
      const local = await Promise.all(Array.from({ length: 5 }, () => d.client('u')));
      for (const [i, c] of local.entries()) assert.equal(await c.query('test', `u${i}`), `OK test/u${i}`);
      assert.equal(d.daemon.stats.connectionsRejected, 1);
    } finally {
      for (const s of open) s.destroy();
      await d.stop();
    }
  });

  it('by default makes room by closing the idle connection of that address that has waited longest', async () => {
    const d = await startDaemon(CONFIG);
    try {
      const first = await connectFrom('127.0.0.2', d.port('tcp'));
      const firstClosed = readUntilClose(first);
      const others = [await connectFrom('127.0.0.2', d.port('tcp')), await connectFrom('127.0.0.2', d.port('tcp'))];
      for (const [i, s] of others.entries()) {
        const r = readBytes(s, encodeNetstring(`OK test/o${i}`).length);
        s.write(encodeNetstring(`test o${i}`));
        assert.equal(await r, encodeNetstring(`OK test/o${i}`));
      }
      const fourth = await connectFrom('127.0.0.2', d.port('tcp'));
      assert.equal(await firstClosed, '');
      const r = readBytes(fourth, encodeNetstring('OK test/new').length);
      fourth.write(encodeNetstring('test new'));
      assert.equal(await r, encodeNetstring('OK test/new'));
      assert.equal(d.daemon.stats.connectionsEvicted, 1);
      assert.equal(d.daemon.stats.connectionsRejected, 0);
      for (const s of [...others, fourth]) s.destroy();
    } finally {
      await d.stop();
    }
  });
});
