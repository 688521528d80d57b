import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseReplyStatus, parseServerUrl, SmapClient } from '../../src/client/client.js';
import {
  ConnectError,
  ConnectionClosedError,
  InvalidClientArgumentError,
  InvalidServerUrlError,
  MalformedReplyError,
  ReplyTimeoutError,
  ReplyTooLargeError,
} from '../../src/client/errors.js';
import { deadUrl, startTestServer, type TestServer } from './sockmap-server.js';

let srv: TestServer;
const open: SmapClient[] = [];

async function connect(url = srv.tcpUrl, extra: Partial<Parameters<typeof SmapClient.connect>[0]> = {}) {
  const c = await SmapClient.connect({ url, timeoutMs: 5000, ...extra });
  open.push(c);
  return c;
}

before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await Promise.all(open.map((c) => c.close()));
  await srv.close();
});

describe('SmapClient queries', () => {
  it('answers single queries over TCP with the reply payload as sent', async () => {
    const c = await connect();
    assert.equal(await c.query('echo', 'hello'), 'OK hello');
    assert.equal(await c.query('nosuch', 'k'), 'NOTFOUND ');
    assert.equal(await c.query('echo', 'with  two spaces '), 'OK with  two spaces ');
    assert.equal(await c.query('echo', ''), 'OK ');
  });

  it('works over a unix socket, also as a bare path', async () => {
    const c = await connect(srv.unixUrl);
    assert.equal(await c.query('echo', 'u'), 'OK u');
    const bare = await connect(srv.unixUrl.replace(/^unix:\/\//, ''));
    assert.equal(await bare.query('echo', 'b'), 'OK b');
  });

  it('sends a pipeline in one write and returns the replies in request order', async () => {
    const c = await connect();
    const replies = await c.pipeline([
      ['slow', '60'],
      ['echo', 'a'],
      ['slow', '5'],
      ['nosuch', 'b'],
      ['echo', 'c'],
    ]);
    assert.deepEqual(replies, ['OK slept 60', 'OK a', 'OK slept 5', 'NOTFOUND ', 'OK c']);
    assert.deepEqual(srv.framesPerChunk.at(-1), [5], 'the server did not get all five requests in one read');
  });

  it('matches many concurrent queries to their replies', async () => {
    const c = await connect();
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const replies = await Promise.all(keys.map((k) => c.query('echo', k)));
    assert.deepEqual(replies, keys.map((k) => `OK ${k}`));
    assert.equal(c.pending, 0);
  });

  it('receives a 200000-byte reply whole', async () => {
    const c = await connect();
    const reply = await c.query('big', '200000');
    assert.equal(reply.length, 200000);
    assert.ok(reply.startsWith('OK xxx'));
    assert.equal(await c.query('echo', 'after'), 'OK after');
  });

  it('keeps the replies of several connections apart while they read into the one shared buffer', async () => {
    const cs = await Promise.all([connect(), connect(), connect()]);
    const asks = cs.flatMap((c, i) => [c.query('big', String(150_000 + i)), c.query('echo', `after big ${i}`), c.query('echo', `k${i}`)]);
    const replies = await Promise.all(asks);
    cs.forEach((_, i) => {
      const [big, after, k] = replies.slice(i * 3, i * 3 + 3);
      assert.equal(big!.length, 150_000 + i);
      assert.match(big!, /^OK x+$/);
      assert.equal(after, `OK after big ${i}`);
      assert.equal(k, `OK k${i}`);
    });
  });

  it('frames requests longer than 511 bytes correctly, multibyte text included', async () => {
    const c = await connect();
    for (const key of ['a'.repeat(512), 'é'.repeat(300), 'z'.repeat(100000)]) {
      assert.equal(await c.query('echo', key), `OK ${key}`);
      assert.equal(srv.requests.at(-1), `echo ${key}`);
    }
  });

  it('sends raw payloads and raw bytes', async () => {
    const c = await connect();
    assert.equal(await c.queryRaw('nospace'), 'PERM malformed request');
    assert.equal(await c.queryRaw(Buffer.from('echo bytes')), 'OK bytes');
    c.writeRaw('8:echo');
    c.writeRaw(Buffer.from(' abc,'));
    assert.equal(await c.expectReply(), 'OK abc');
  });
});

describe('SmapClient failures', () => {
  it('rejects pending requests when the server closes the connection', async () => {
    const c = await connect();
    const replies = [c.query('echo', 'first'), c.query('close', 'x'), c.query('echo', 'never answered')];
    assert.equal(await replies[0], 'OK first');
    await assert.rejects(replies[1]!, (err: Error) => err instanceof ConnectionClosedError && /closed the connection before replying/.test(err.message));
    await assert.rejects(replies[2]!, ConnectionClosedError);
    await c.closed;
    await assert.rejects(c.query('echo', 'late'), /is closed: the server closed it/);
  });

  it('resolves closed when the server closes an idle connection', async () => {
    const c = await connect();
    c.writeRaw('7:close x,'); // the server closes without a reply, and nothing is pending
    await c.closed;
    assert.equal(c.error, undefined);
    assert.throws(() => c.writeRaw('x'), ConnectionClosedError);
  });

  it('times out a request, fails the ones behind it and closes the connection', async () => {
    const c = await connect(srv.tcpUrl, { timeoutMs: 150 });
    const started = Date.now();
    const slow = c.query('never', 'x');
    const behind = c.query('echo', 'y');
    await assert.rejects(slow, (err: Error) => err instanceof ReplyTimeoutError && /within 150 ms/.test(err.message));
    assert.ok(Date.now() - started >= 140, 'the timeout fired too early');
    await assert.rejects(behind, (err: Error) => err instanceof ConnectionClosedError && /earlier request/.test(err.message));
    await c.closed;
    assert.ok(c.error instanceof ReplyTimeoutError);
  });

  it('does not time out requests answered in time, however long the session', async () => {
    // Each answer comes well inside the timeout (a loaded machine has a second to spare), the session as a
    // whole takes longer than it: the timeout must be per request.
    const c = await connect(srv.tcpUrl, { timeoutMs: 1500 });
    const started = Date.now();
    for (let i = 0; i < 4; i++) assert.equal(await c.query('slow', '450'), 'OK slept 450');
    assert.ok(Date.now() - started > 1500, 'the session outlasted one timeout');
  });

  it('refuses a reply longer than maxReplySize and closes', async () => {
    const c = await connect(srv.tcpUrl, { maxReplySize: 1000 });
    assert.equal((await c.query('big', '1000')).length, 1000);
    await assert.rejects(c.query('big', '1001'), (err: Error) => err instanceof ReplyTooLargeError && /longer than 1000 bytes/.test(err.message));
    await c.closed;
  });

  it('refuses a malformed reply and an unsolicited one', async () => {
    const c = await connect();
    await assert.rejects(c.query('garbage', 'x'), (err: Error) => err instanceof MalformedReplyError && /malformed reply/.test(err.message));
    const d = await connect();
    assert.equal(await d.query('twice', 'x'), 'OK first x');
    await d.closed;
    assert.ok(d.error instanceof MalformedReplyError);
    assert.match(d.error.message, /unsolicited reply/);
  });

  it('close() waits for pending replies, then refuses new requests', async () => {
    const c = await connect();
    const reply = c.query('slow', '30');
    const closing = c.close();
    await assert.rejects(c.query('echo', 'x'), /is closing/);
    assert.equal(await reply, 'OK slept 30');
    await closing;
    await assert.rejects(c.query('echo', 'x'), /closed by the client/);
  });
});

describe('SmapClient input checks', () => {
  it('rejects bad URLs with a clear error', async () => {
    await assert.rejects(SmapClient.connect({ url: 'http://x:1' }), (err: Error) => err instanceof InvalidServerUrlError && /unknown scheme/.test(err.message));
    await assert.rejects(SmapClient.connect({ url: 'inet://127.0.0.1:0' }), /port 0 cannot be connected to/);
    await assert.rejects(SmapClient.connect({ url: 'inet://127.0.0.1' }), /missing ':PORT'/);
    assert.throws(() => parseServerUrl('unix://relative'), InvalidServerUrlError);
    assert.equal(parseServerUrl('inet6://[::1]:5').kind, 'inet6');
  });

  it('reports a refused connection and a missing socket as ConnectError', async () => {
    const url = await deadUrl();
    await assert.rejects(SmapClient.connect({ url }), (err: Error) => err instanceof ConnectError && err.message.includes(url) && /ECONNREFUSED/.test(err.message));
    await assert.rejects(SmapClient.connect({ url: '/nonexistent/smap.sock' }), /ENOENT/);
  });

  it('checks options and map names', async () => {
    await assert.rejects(SmapClient.connect({ url: srv.tcpUrl, timeoutMs: 0 }), InvalidClientArgumentError);
    await assert.rejects(SmapClient.connect({ url: srv.tcpUrl, maxReplySize: 1.5 }), /positive integer/);
    await assert.rejects(SmapClient.connect({ url: srv.tcpUrl, sourceAddress: 'nope' }), /not an IP address/);
    await assert.rejects(SmapClient.connect({ url: srv.unixUrl, sourceAddress: '127.0.0.1' }), /only to inet/);
    const c = await connect();
    await assert.rejects(c.query('two words', 'k'), (err: Error) => err instanceof InvalidClientArgumentError && /contains a space/.test(err.message));
    await assert.rejects(c.query('', 'k'), /map name is empty/);
    await assert.rejects(c.pipeline([['echo', 'a'], ['bad map', 'b']]), InvalidClientArgumentError);
    assert.equal(await c.query('echo', 'still usable'), 'OK still usable');
  });

  it('binds the source address', async () => {
    const c = await connect(srv.tcpUrl, { sourceAddress: '127.0.0.1' });
    assert.equal(await c.query('echo', 'src'), 'OK src');
  });
});

describe('parseReplyStatus', () => {
  it('splits at the first space', () => {
    assert.deepEqual(parseReplyStatus('OK a b'), { status: 'OK', value: 'a b' });
    assert.deepEqual(parseReplyStatus('NOTFOUND '), { status: 'NOTFOUND', value: '' });
    assert.deepEqual(parseReplyStatus('NOTFOUND'), { status: 'NOTFOUND', value: '' });
    assert.deepEqual(parseReplyStatus('TEMP  db down'), { status: 'TEMP', value: ' db down' });
    assert.deepEqual(parseReplyStatus(''), { status: '', value: '' });
  });
});
