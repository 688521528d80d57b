/**
 * SmapClient.send, the callback form of query: replies reach the handler in request order, alongside
 * promise queries on the same connection; a failure reaches it as reject; nothing is heard from within send;
 * a handler that throws does not bring the connection down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SmapClient, type ReplyHandler } from '../../src/client/client.js';
import { ConnectionClosedError, InvalidClientArgumentError, ReplyTimeoutError } from '../../src/client/errors.js';
import { decodeBytes } from '../../src/protocol/bytes.js';
import { nextUncaughtException } from '../helpers/uncaught.js';
import { startTestServer, type TestServer } from './sockmap-server.js';

let srv: TestServer;
const open: SmapClient[] = [];

async function connect(timeoutMs = 5000): Promise<SmapClient> {
  const c = await SmapClient.connect({ url: srv.tcpUrl, timeoutMs });
  open.push(c);
  return c;
}

/** A handler that records what it hears; `heard` settles with the first thing. */
function recorder(): ReplyHandler & { readonly events: string[]; readonly heard: Promise<string> } {
  const events: string[] = [];
  let done!: (what: string) => void;
  const heard = new Promise<string>((resolve) => (done = resolve));
  return {
    events,
    heard,
    resolve(reply) {
      events.push(`reply ${reply}`);
      done(`reply ${reply}`);
    },
    reject(err) {
      events.push(`${err.name} ${err.message}`);
      done(`${err.constructor.name}`);
    },
  };
}

before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await Promise.all(open.map((c) => c.close()));
  await srv.close();
});

describe('SmapClient.send', () => {
  it('tells each handler its reply, in request order, later, next to promise queries', async () => {
    const c = await connect();
    const hs = [recorder(), recorder(), recorder()];
    c.send('echo', 'one', hs[0]!);
    const viaPromise = c.query('slow', '20');
    c.send('status', 'TEMP later', hs[1]!);
    c.send('nosuch', 'k', hs[2]!);
    assert.deepEqual(hs.map((h) => h.events.length), [0, 0, 0], 'nothing is heard from within send');
    assert.deepEqual(await Promise.all(hs.map((h) => h.heard)), ['reply OK one', 'reply TEMP later', 'reply NOTFOUND ']);
    assert.equal(await viaPromise, 'OK slept 20');
    assert.deepEqual(hs.map((h) => h.events.length), [1, 1, 1]);
  });

  it('frames keys of multi-byte characters and of raw bytes by their byte length', async () => {
    const c = await connect();
    const hs = [recorder(), recorder(), recorder()];
    c.send('echo', 'clé-日本-😀', hs[0]!);
    // A key holding the byte 0xff as it arrived (bytes.ts) leaves as that byte; this server reads UTF-8, so
    // it sees U+FFFD, and answers after it: a wrong frame length would have broken the request after it.
    c.send('echo', decodeBytes(Buffer.from([0x61, 0xff])), hs[1]!);
    c.send('echo', 'after', hs[2]!);
    assert.deepEqual(await Promise.all(hs.map((h) => h.heard)), ['reply OK clé-日本-😀', 'reply OK a\ufffd', 'reply OK after']);
  });

  it('throws at once for a bad map name and on a closed connection', async () => {
    const c = await connect();
    assert.throws(() => c.send('two words', 'k', recorder()), InvalidClientArgumentError);
    await c.close();
    assert.throws(() => c.send('echo', 'k', recorder()), ConnectionClosedError);
  });

  it('rejects through the handler when the server closes the connection or does not answer in time', async () => {
    const closing = await connect();
    const h1 = recorder();
    closing.send('close', 'k', h1);
    assert.equal(await h1.heard, 'ConnectionClosedError');
    const silent = await connect(100);
    const h2 = recorder();
    const h3 = recorder();
    silent.send('never', 'k', h2);
    silent.send('echo', 'behind', h3);
    assert.equal(await h2.heard, 'ReplyTimeoutError');
    assert.equal(await h3.heard, 'ConnectionClosedError');
    assert.ok(silent.error instanceof ReplyTimeoutError);
  });

  it('times out a send made before a query in the same tick (each request gets its deadline at the write)', { timeout: 10_000 }, async () => {
    const silent = await connect(100);
    const h = recorder();
    silent.send('never', 'k', h);
    const q = silent.query('never', 'behind');
    // Before: the query's entry took the send's place in the count, the send's deadline was never set, and
    // the request waited for ever.
    assert.equal(await h.heard, 'ReplyTimeoutError');
    await assert.rejects(q, ConnectionClosedError);
  });

  it('keeps the connection when a handler throws; the error is thrown again from a microtask', async () => {
    const c = await connect();
    const uncaught = nextUncaughtException();
    c.send('echo', 'first', {
      resolve() {
        throw new Error('handler bug');
      },
      reject() {
        throw new Error('not this one');
      },
    });
    assert.match(((await uncaught) as Error).message, /handler bug/);
    assert.equal(await c.query('echo', 'still here'), 'OK still here');
    assert.equal(c.isOpen, true);
  });
});
