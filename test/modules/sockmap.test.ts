/**
 * The sockmap module in front of a second smapd and of a scripted socketmap server: the upstream's reply
 * comes back byte for byte whatever its status, keys reach the upstream as data, connections are pooled and
 * pipelined, an upstream outage is TEMP and ends by itself, a silent upstream is TIMEOUT.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sockmapModule, { type SockmapDb } from '../../modules/sockmap/index.js';
import { ModuleArgumentError } from '../../src/errors.js';
import { Deferred, type ConnInfo } from '../../src/modules/api.js';
import { askRaw } from '../helpers/ask-raw.js';
import { startTestServer, type TestServer } from '../client/sockmap-server.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { databaseContext } from '../helpers/module-context.js';
import { TcpRelay } from '../helpers/tcp-relay.js';

const conn: ConnInfo = { serverId: 'main', family: 'inet', src: '192.0.2.7', srcPort: 40000, dst: '127.0.0.1', dstPort: 3145 };

/** Keys that a careless forwarder would mangle: quotes, wildcards, NUL, spaces, 8-bit text. */
const TRICKY_KEYS = ["o'brien", '"dq"', '100%', '*', 'a_b', 'a\u0000b', '(uid=*)', 'back\\slash', 'two  spaces', 'café ✉ 🎉', ' lead', ''];

const UPSTREAM_CONF = `
server up inet://127.0.0.1:0
server up6 inet6://[::1]:0
server upunix unix://@DIR@/up.sock
module echo echo
database found echo OK found \${key} in \${map}
database perm echo PERM upstream refuses
database temp echo TEMP upstream busy
database tmo echo TIMEOUT upstream slow
database nomore echo NOMORE
database none echo NOTFOUND
dispatch map eq found database found
dispatch map eq perm database perm
dispatch map eq temp database temp
dispatch map eq tmo database tmo
dispatch map eq nomore database nomore
dispatch default database none
`;

function frontConf(upstreamUrl: string, extra = ''): string {
  return `
server front inet://127.0.0.1:0
module up sockmap
database fwd up url=${upstreamUrl} timeout=5s
database renamed up url=${upstreamUrl} map=found
database byclient up url=${upstreamUrl} map=found-\${src}
dispatch map eq renamed database renamed
dispatch map eq byclient database byclient
${extra}
dispatch default database fwd
`;
}

describe('sockmap module, in front of a second smapd', () => {
  let upstream: TestDaemon;
  let front: TestDaemon;

  before(async () => {
    upstream = await startDaemon(UPSTREAM_CONF);
    front = await startDaemon(frontConf(upstream.url()));
  });
  after(async () => {
    await front?.stop();
    await upstream?.stop();
  });

  it('gives back the same bytes as asking the upstream directly, for every status', async () => {
    for (const map of ['found', 'perm', 'temp', 'tmo', 'nomore', 'none']) {
      for (const key of TRICKY_KEYS) {
        const payload = Buffer.from(`${map} ${key}`);
        const direct = await askRaw(upstream.url(), payload);
        const forwarded = await askRaw(front.url(), payload);
        assert.deepEqual(forwarded, direct, `${map} ${JSON.stringify(key)}: ${forwarded.toString()} vs ${direct.toString()}`);
      }
    }
    const ok = await askRaw(front.url(), Buffer.from("found o'brien"));
    assert.equal(ok.toString(), "25:OK found o'brien in found,");
  });

  it('reaches the upstream over inet6 and unix sockets too', async () => {
    const via = await startDaemon(frontConf(upstream.url('up6'), `database unix up url=${upstream.url('upunix')} map=found\ndispatch map eq unix database unix`));
    try {
      assert.match(upstream.url('up6'), /^inet6:\/\/\[::1\]:\d+$/);
      const c = await via.client();
      assert.equal(await c.query('found', 'over v6'), 'OK found over v6 in found');
      assert.match(upstream.url('upunix'), /^unix:\/\//);
      assert.equal(await c.query('unix', 'k'), 'OK found k in found');
    } finally {
      await via.stop();
    }
  });

  it('asks the map that map= names, from a template', async () => {
    const c = await front.client();
    assert.equal(await c.query('renamed', 'x%y'), 'OK found x%y in found');
    // The upstream has no map found-127.0.0.1: its default answers, and the template did expand.
    assert.equal(await c.query('byclient', 'k'), 'NOTFOUND ');
  });

  it('answers many pipelined lookups in order, from several connections', async () => {
    const c = await front.client();
    const keys = Array.from({ length: 500 }, (_, i) => `key${i}`);
    const replies = await c.pipeline(keys.map((k) => ['found', k] as const));
    assert.deepEqual(
      replies,
      keys.map((k) => `OK found ${k} in found`),
    );
  });
});

describe('sockmap module, against a scripted upstream', () => {
  let server: TestServer;
  const opened: SockmapDb[] = [];

  async function open(args: string[]): Promise<SockmapDb> {
    const db = (await sockmapModule.initDb(args, databaseContext('fwd', [], 'up'))) as SockmapDb;
    opened.push(db);
    await sockmapModule.openDb!(db);
    return db;
  }
  const ask = (db: SockmapDb, map: string, key: string): Promise<string> => Promise.resolve(sockmapModule.query!(db, map, key, conn));

  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    for (const db of opened) await sockmapModule.closeDb!(db);
    await server?.close();
  });

  it('passes PERM, TEMP and TIMEOUT on as they came, and repairs only a missing space', async () => {
    const db = await open([`url=${server.tcpUrl}`]);
    assert.equal(await ask(db, 'status', 'PERM no such map'), 'PERM no such map');
    assert.equal(await ask(db, 'status', 'TEMP try later'), 'TEMP try later');
    assert.equal(await ask(db, 'status', 'TIMEOUT dns slow'), 'TIMEOUT dns slow');
    assert.equal(await ask(db, 'status', 'NOMORE x'), 'NOMORE x');
    assert.equal(await ask(db, 'status', 'OK  two spaces '), 'OK  two spaces ');
    assert.equal(await ask(db, 'status', 'NOTFOUND'), 'NOTFOUND ');
  });

  it('answers TEMP when the upstream sends something that is not a reply', async () => {
    const db = await open([`url=${server.tcpUrl}`]);
    assert.match(await ask(db, 'status', 'ok lower case'), /^TEMP upstream .* sent a malformed reply$/);
    assert.match(await ask(db, 'status', 'FOUND x'), /^TEMP /);
    assert.match(await ask(db, 'garbage', 'x'), /^TEMP /);
    // The connection that got garbage is gone; the next lookup gets a new one.
    assert.equal(await ask(db, 'echo', 'again'), 'OK again');
  });

  it('works over a unix socket', async () => {
    const db = await open([`url=${server.unixUrl}`]);
    assert.equal(await ask(db, 'echo', 'via unix'), 'OK via unix');
  });

  it('spreads lookups over its connections and pipelines on each', async () => {
    const before = server.framesPerChunk.length;
    const db = await open([`url=${server.tcpUrl}`, 'connections=2']);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => ask(db, 'slow', String(i % 5))));
    assert.deepEqual(
      replies,
      Array.from({ length: 200 }, (_, i) => `OK slept ${i % 5}`),
    );
    assert.equal(server.framesPerChunk.length - before, 2, "one connection per slot, kept for all 200 lookups");
    assert.ok(server.maxOutstanding > 1, 'requests were pipelined');
  });

  it('sends the lookups of one turn (as from many client connections) on one connection in one write, each answered in order', async () => {
    const before = server.framesPerChunk.length;
    const db = await open([`url=${server.tcpUrl}`, 'connections=4']);
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const replies = await Promise.all(keys.map((k, i) => (i % 3 === 2 ? ask(db, 'nothere', k) : ask(db, 'echo', k))));
    assert.deepEqual(
      replies,
      keys.map((k, i) => (i % 3 === 2 ? 'NOTFOUND ' : `OK ${k}`)),
    );
    const chunks = server.framesPerChunk.slice(before);
    assert.deepEqual(chunks, [[12]], 'one connection, one chunk of all twelve requests');
    // The next turn's lookups take the next connection.
    assert.equal(await ask(db, 'echo', 'next turn'), 'OK next turn');
    assert.equal(server.framesPerChunk.length - before, 2);
  });

  it('answers TIMEOUT when the upstream does not answer in time, and goes on with a new connection', async () => {
    const db = await open([`url=${server.tcpUrl}`, 'timeout=300ms', 'connections=1']);
    const started = Date.now();
    const [silent, behind] = await Promise.all([ask(db, 'never', 'x'), ask(db, 'echo', 'queued behind')]);
    assert.equal(silent, `TIMEOUT upstream ${server.tcpUrl} did not answer within 300 ms`);
    // The lookup queued behind the silent one lost its connection and was asked again on a new one.
    assert.equal(behind, 'OK queued behind');
    assert.ok(Date.now() - started < 5000);
    assert.equal(await ask(db, 'echo', 'after'), 'OK after');
  });

  it('answers through a Deferred while a connection stands, and at once when a lookup cannot be sent', async () => {
    const db = await open([`url=${server.tcpUrl}`, 'map=echo-${key}', 'connections=1']);
    const answer = sockmapModule.query!(db, 'any', 'k', conn);
    assert.ok(answer instanceof Deferred, 'no promise per lookup');
    assert.equal(await answer, 'NOTFOUND ');
    // The key makes a map name with a space, which the upstream would split: TEMP, without asking it.
    const refused = sockmapModule.query!(db, 'any', 'two words', conn);
    assert.equal(typeof refused, 'string');
    assert.match(refused as string, /^TEMP .*space/);
  });

  it('asks once more when the upstream closes a connection under a lookup', async () => {
    const db = await open([`url=${server.tcpUrl}`, 'connections=1']);
    assert.equal(await ask(db, 'echo', 'first'), 'OK first');
    // `close` makes the server hang up without a reply: asked twice, closed twice, then TEMP.
    assert.match(await ask(db, 'close', 'x'), /^TEMP .*closed the connection/);
    assert.equal(await ask(db, 'echo', 'next'), 'OK next');
  });

  it('answers TEMP at once while the upstream is down, and recovers when it is back', async () => {
    const relay = new TcpRelay(server.port);
    await relay.start();
    try {
      const db = await open([`url=inet://127.0.0.1:${relay.port}`, 'timeout=20s']);
      assert.equal(await ask(db, 'echo', 'up'), 'OK up');
      await relay.stop();
      const started = Date.now();
      for (let i = 0; i < 20; i++) assert.match(await ask(db, 'echo', 'down'), /^TEMP /);
      assert.ok(Date.now() - started < 5000, 'TEMP came at once, not after the timeout');
      await relay.start();
      let reply = '';
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        reply = await ask(db, 'echo', 'back');
        if (reply.startsWith('OK')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(reply, 'OK back');
    } finally {
      await relay.stop();
    }
  });

  it('fails the open with TEMP reasons when nothing listens', async () => {
    const relay = new TcpRelay(server.port);
    await relay.start();
    await relay.stop();
    const db = (await sockmapModule.initDb([`url=inet://127.0.0.1:${relay.port}`], databaseContext('fwd', [], 'up'))) as SockmapDb;
    opened.push(db);
    await assert.rejects(Promise.resolve(sockmapModule.openDb!(db)), /unavailable: .*ECONNREFUSED/);
  });

  it('rejects bad arguments at initDb, without connecting', async () => {
    const init = (args: string[]) => sockmapModule.initDb(args, databaseContext('fwd', [], 'up'));
    assert.throws(() => init([]), ModuleArgumentError);
    assert.throws(() => init(['url=inet://127.0.0.1:0']), /port 0/);
    assert.throws(() => init(['url=http://x']), ModuleArgumentError);
    assert.throws(() => init(['url=inet://127.0.0.1:1', 'connections=0']), /connections/);
    assert.throws(() => init(['url=inet://127.0.0.1:1', 'timeout=0']), /timeout/);
    assert.throws(() => init(['url=inet://127.0.0.1:1', 'map=a b']), /without spaces/);
    assert.throws(() => init(['url=inet://127.0.0.1:1', 'map=${nope}']), /unknown variable/);
    assert.throws(() => init(['url=inet://127.0.0.1:1', 'bogus=1']), /unknown option/);
  });

  it('says which connection facts the answer depends on, for the cache', async () => {
    const deps = async (args: string[]) => sockmapModule.answerDependsOn!((await sockmapModule.initDb(args, databaseContext())) as SockmapDb);
    assert.deepEqual(await deps(['url=inet://127.0.0.1:1']), []);
    assert.deepEqual(await deps(['url=inet://127.0.0.1:1', 'map=m-${src}-${server}']), ['src', 'serverId']);
  });
});
