import assert from 'node:assert/strict';
import { statSync, existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { capture } from '../helpers/capture-log.js';
import { connectRaw, readBytes, readUntilClose } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const CONFIG = `
server tcp inet://127.0.0.1:0
server local unix://@DIR@/smap.sock begin
  socket-mode 660
end
max-request-size 1000
max-reply-size 5000
module t testmod
module echo echo
database test t
database pre t pre-
database nf echo NOTFOUND
dispatch key like <*> transform key test
dispatch map eq other database pre
dispatch map regexp /^(test|alias)$/ database test
dispatch default database nf
`;

describe('smapd server', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon(CONFIG);
  });
  after(async () => {
    await d.stop();
  });

  it('answers over TCP, through dispatch and transform', async () => {
    const c = await d.client('tcp');
    assert.equal(await c.query('test', 'alice'), 'OK test/alice');
    assert.equal(await c.query('other', 'bob'), 'OK pre-other/bob');
    assert.equal(await c.query('test', '<carol>'), 'OK test/carol');
    assert.equal(await c.query('nomap', 'x'), 'NOTFOUND ');
    assert.equal(await c.query('test', 'conn'), 'OK tcp inet 127.0.0.1');
  });

  it('answers over a unix socket created with the configured mode', async () => {
    const url = d.url('local');
    const path = url.replace(/^unix:\/\//, '');
    assert.equal(statSync(path).mode & 0o777, 0o660);
    const c = await d.client('local');
    assert.equal(await c.query('test', 'conn'), 'OK local unix ');
  });

  it('keeps request order for pipelined requests when an earlier one is slow', async () => {
    const c = await d.client('tcp');
    const replies = await c.pipeline([
      ['test', 'sleep:80'],
      ['test', 'a'],
      ['test', 'sleep:10'],
      ['test', 'b'],
      ['nomap', 'c'],
    ]);
    assert.deepEqual(replies, ['OK slept 80', 'OK test/a', 'OK slept 10', 'OK test/b', 'NOTFOUND ']);
  });

  it('answers a module failure with TEMP and keeps the connection', async () => {
    const c = await d.client('tcp');
    assert.equal(await c.query('test', 'throw'), 'TEMP database error');
    assert.equal(await c.query('test', 'after'), 'OK test/after');
  });

  it('replaces a reply over max-reply-size with PERM', async () => {
    const c = await d.client('tcp');
    assert.equal((await c.query('test', 'big:4000')).length, 3 + 4000);
    assert.equal(await c.query('test', 'big:6000'), 'PERM reply too long (limit 5000 bytes)');
    assert.equal(await c.query('test', 'x'), 'OK test/x');
  });

  it('answers a request without a map name with PERM and goes on', async () => {
    const c = await d.client('tcp');
    assert.match(await c.queryRaw('nospace'), /^PERM malformed request/);
    assert.equal(await c.query('test', 'x'), 'OK test/x');
  });

  it('closes a connection that sends a malformed netstring, after answering what came before; others go on', async () => {
    const other = await d.client('tcp');
    const s = await connectRaw(d.url('tcp'));
    const all = readUntilClose(s);
    s.write('9:test good,xyz:garbage,');
    const got = await all;
    assert.match(got, /^12:OK test\/good,\d+:PERM protocol error: invalid character 'x' in netstring length,$/);
    assert.equal(await other.query('test', 'still'), 'OK test/still');
  });

  it('refuses an oversize request from its length alone and closes', async () => {
    const s = await connectRaw(d.url('tcp'));
    const all = readUntilClose(s);
    s.write('1001:'); // no payload follows: the server must not wait for it
    const got = await all;
    assert.match(got, /^\d+:PERM request length exceeds 1000 bytes,$/);
  });

  it('answers requests that arrive one byte at a time', async () => {
    const s = await connectRaw(d.url('tcp'));
    const wire = encodeNetstring('test split');
    const reply = readBytes(s, '13:OK test/split,'.length);
    for (const ch of wire) {
      s.write(ch);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(await reply, '13:OK test/split,');
    s.destroy();
  });

  it('keeps connections apart when many send split, pipelined requests at once', async () => {
    // Accepted sockets share one read buffer (src/server/shared-read.ts): interleave the connections' reads
    // and split their frames at random places, and each must still get exactly its own answers, in order.
    const N = 12;
    const PER = 60;
    const key = (c: number, i: number) => `c${c}-${i}-${'x'.repeat((c * 31 + i * 7) % 200)}`;
    const socks = await Promise.all(Array.from({ length: N }, () => connectRaw(d.url('tcp'))));
    const expected = socks.map((_, c) => Array.from({ length: PER }, (_, i) => encodeNetstring(`OK test/${key(c, i)}`)).join(''));
    const replies = socks.map((s, c) => readBytes(s, Buffer.byteLength(expected[c]!), 10_000));
    const wires = socks.map((_, c) => Buffer.from(Array.from({ length: PER }, (_, i) => encodeNetstring(`test ${key(c, i)}`)).join('')));
    const pos = wires.map(() => 0);
    let seed = 7;
    const piece = () => 1 + ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 97);
    while (pos.some((p, c) => p < wires[c]!.length)) {
      for (let c = 0; c < N; c++) {
        if (pos[c]! >= wires[c]!.length) continue;
        const n = piece();
        socks[c]!.write(wires[c]!.subarray(pos[c]!, pos[c]! + n));
        pos[c]! += n;
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(replies), expected);
    for (const s of socks) s.destroy();
  });

  it('finishes in-flight requests when the client half-closes', async () => {
    const s = await connectRaw(d.url('tcp'));
    s.setNoDelay(true);
    const all = readUntilClose(s);
    s.end(encodeNetstring('test sleep:30') + encodeNetstring('test a'));
    assert.equal(await all, '11:OK slept 30,9:OK test/a,');
  });

  it('serves many connections at once', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => SmapClient.connect({ url: d.url('tcp') })));
    const replies = await Promise.all(clients.map((c, i) => c.query('test', `k${i}`)));
    assert.deepEqual(replies, clients.map((_, i) => `OK test/k${i}`));
    await Promise.all(clients.map((c) => c.close()));
  });

  it('counts requests and replies by status', () => {
    const s = d.daemon.stats;
    assert.ok(s.requests > 10);
    assert.ok(s.replies.OK > 5);
    assert.ok(s.replies.NOTFOUND >= 1);
    assert.ok(s.replies.PERM >= 3);
    assert.ok(s.protocolErrors >= 2);
  });
});

describe('smapd server lifecycle', () => {
  it('closes idle connections after idle-timeout', async () => {
    const d = await startDaemon('idle-timeout 200ms\nserver tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n');
    try {
      const c = await d.client();
      assert.equal(await c.query('test', 'a'), 'OK test/a');
      await c.closed; // the server closes it
    } finally {
      await d.stop();
    }
  });

  it('refuses connections past max-connections with when-full refuse', async () => {
    const d = await startDaemon('when-full refuse\nserver tcp inet://127.0.0.1:0 begin\n max-connections 2\nend\nmodule t testmod\ndatabase test t\ndispatch default database test\n');
    try {
      const a = await d.client();
      const b = await d.client();
      assert.equal(await a.query('test', 'a'), 'OK test/a');
      assert.equal(await b.query('test', 'b'), 'OK test/b');
      const s = await connectRaw(d.url());
      assert.equal(await readUntilClose(s), '');
      assert.equal(d.daemon.stats.connectionsRejected, 1);
    } finally {
      await d.stop();
    }
  });

  it('on stop, lets in-flight requests finish, closes idle connections, then removes the unix socket', async () => {
    const { log, lines } = capture();
    const d = await startDaemon('server u unix://@DIR@/s.sock\nserver tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n', log);
    const sockPath = d.url('u').replace('unix://', '');
    const c = await d.client('u');
    const idle = await Promise.all([d.client('u'), d.client('tcp')]);
    for (const i of idle) assert.equal(await i.query('test', 'x'), 'OK test/x');
    // Like Sendmail: keeps its side open and reads nothing until its next lookup.
    const quiet = await connectRaw(d.url('tcp'), { allowHalfOpen: true });
    const quietEnded = new Promise((r) => quiet.once('end', r));
    quiet.on('error', () => undefined);
    quiet.pause();
    const before = d.daemon.stats.requests;
    const pending = c.query('test', 'sleep:100');
    // The stop must find the lookup in flight: wait until the daemon has it.
    await waitFor(() => d.daemon.stats.requests > before, 'the slow request to arrive');
    const stopped = d.daemon.stop();
    assert.equal(await pending, 'OK slept 100');
    await stopped;
    await Promise.all(idle.map((i) => i.closed));
    quiet.resume();
    await quietEnded;
    quiet.destroy();
    assert.equal(existsSync(sockPath), false);
    assert.deepEqual(
      lines().filter((l) => /shutdown timeout/.test(String(l.msg))),
      [],
      'every connection should close gracefully, none by the shutdown timeout',
    );
    await d.stop();
  });

  it('drops a connection it ended when the peer never closes its side', async () => {
    const d = await startDaemon('server tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n');
    try {
      // This client reads the server's end and keeps its own side open.
      const s = await connectRaw(d.url(), { allowHalfOpen: true });
      let got = '';
      s.on('data', (b) => (got += b.toString()));
      const ended = new Promise((r) => s.once('end', r));
      s.write('x:'); // malformed: the server answers PERM, ends its side, and waits for ours
      await ended;
      assert.match(got, /^\d+:PERM protocol error: /);
      assert.equal(d.daemon.openConnections, 1, 'the server waits a while for the peer to close');
      for (let i = 0; i < 200 && d.daemon.openConnections > 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(d.daemon.openConnections, 0, 'the server drops the half-closed connection');
      s.destroy();
    } finally {
      await d.stop();
    }
  });

  it('answers a request longer than one read, and reads every connection into the shared buffer', async () => {
    const { log, lines } = capture();
    const d = await startDaemon(
      'max-request-size 300000\nmax-reply-size 300000\nserver tcp inet://127.0.0.1:0\nserver u unix://@DIR@/s.sock\nmodule t testmod\ndatabase test t\ndispatch default database test\n',
      log,
    );
    try {
      const key = Array.from({ length: 150_000 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
      for (const id of ['tcp', 'u']) {
        const s = await connectRaw(d.url(id));
        const want = encodeNetstring(`OK test/${key}`);
        const reply = readBytes(s, want.length, 10_000);
        s.write(encodeNetstring(`test ${key}`));
        assert.equal(await reply, want);
        s.destroy();
      }
      assert.deepEqual(
        lines().filter((l) => /shared read buffer/.test(String(l.msg))),
        [],
        'every accepted socket should have been moved onto the shared read buffer',
      );
    } finally {
      await d.stop();
    }
  });

  it('listens on IPv6 loopback', async () => {
    const d = await startDaemon('server v6 inet6://[::1]:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n');
    try {
      assert.match(d.url(), /^inet6:\/\/\[::1\]:\d+$/);
      const c = await d.client();
      assert.equal(await c.query('test', 'conn'), 'OK v6 inet6 ::1');
    } finally {
      await d.stop();
    }
  });
});
