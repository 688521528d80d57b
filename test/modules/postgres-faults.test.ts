/**
 * The postgres module when things go wrong on the real server: slow queries (cancelled at the timeout),
 * a slow database next to a fast one, an outage and a failed primary played by TCP relays the test controls.
 * The module logs in as a role made for this file, so terminating "its" connections spares everyone else's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import postgresModule, { type PostgresDb } from '../../modules/postgres/index.js';
import { DOWN_MS } from '../../modules/postgres/servers.js';
import { RATE_LOG_INTERVAL_MS, type Reply } from '../../src/modules/api.js';
import { BackendError } from '../../src/errors.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { TcpRelay } from '../helpers/tcp-relay.js';
import { capturingContext } from './sql-log-capture.js';
import { conn } from './mysql-fixture.js';
import { cancelQueries, connectPg, needPg, PG_PORT, pgArgs, type PgServer, runningQueries, uniqueName, waitFor } from './postgres-fixture.js';

let server: PgServer | undefined;
const table = uniqueName('smapd_pgf');
const role = uniqueName('smapd_pgr');
const args = (port = PG_PORT) => pgArgs(port, undefined, role);
/** In the text of every slow query, so the test finds its own queries in pg_stat_activity. */
const marker = uniqueName('smapd_slow');
const opened: PostgresDb[] = [];
const relays: TcpRelay[] = [];

/** `slow` sleeps for the number of seconds in the map name; any other key answers at once. */
const slowQuery = `query=SELECT CASE WHEN $key = 'slow' THEN pg_sleep($map::float8)::text || '${marker}' ELSE 'fast ' || $key END AS v`;
const byKey = () => `query=SELECT v FROM ${table} WHERE k = $key`;

async function open(a: string[], queryTimeoutMs?: number, dbId = 'faulty'): Promise<PostgresDb> {
  return openDatabase(postgresModule, a, databaseContext(dbId, [], 'pg', process.cwd(), queryTimeoutMs), opened);
}

function ask(db: PostgresDb, key: string, map = '0'): Promise<Reply> {
  return lookUp(postgresModule, db, map, key, conn);
}

async function relay(): Promise<TcpRelay> {
  const r = new TcpRelay(PG_PORT);
  relays.push(r);
  await r.start();
  return r;
}

/** Ask until the answer starts with OK, for at most `ms`; returns every answer seen. */
async function untilOk(db: PostgresDb, key: string, ms: number): Promise<Reply[]> {
  const seen: Reply[] = [];
  await waitFor(async () => {
    const r = await ask(db, key);
    seen.push(r);
    return r.startsWith('OK ');
  }, ms);
  return seen;
}

describe('postgres module faults', () => {
  before(async () => {
    server = await connectPg();
    if (server.admin === null) return;
    await server.admin.query(`CREATE TABLE ${table} (k text PRIMARY KEY, v text)`);
    await server.admin.query(`INSERT INTO ${table} VALUES ('k', 'value')`);
    await server.admin.query(`CREATE ROLE ${role} LOGIN`);
    await server.admin.query(`GRANT SELECT ON ${table} TO ${role}`);
  });

  after(async () => {
    for (const db of opened) await postgresModule.closeDb!(db);
    for (const r of relays) await r.stop();
    if (server?.admin) {
      await cancelQueries(server.admin, marker);
      await server.admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.query(`DROP ROLE IF EXISTS ${role}`);
      await server.admin.end();
    }
  });

  it('a query past timeout= answers TIMEOUT, is cancelled on the server, and does not stall other lookups', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...args(), slowQuery, 'timeout=500ms']);
    const started = Date.now();
    const slow = ask(db, 'slow', '30');
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 1, 5000), 'the slow query runs');
    const fastStarted = Date.now();
    assert.equal(await ask(db, 'quick'), 'OK fast quick');
    assert.ok(Date.now() - fastStarted < 400, 'the second lookup did not wait for the slow one');
    const r = await slow;
    const took = Date.now() - started;
    // The client gets the short reason; the detail (`within 500 ms`) is logged.
    assert.equal(r, 'TIMEOUT database timeout');
    assert.ok(took >= 450 && took < 3000, `timed out after ${took} ms`);
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 0, 5000), 'the query no longer runs on the server');
    const again = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => ask(db, k)));
    assert.deepEqual(again, ['OK fast a', 'OK fast b', 'OK fast c', 'OK fast d', 'OK fast e']);
  });

  it('cancels over the unix socket too', async (t) => {
    if (!needPg(t, server)) return;
    if (!existsSync(`/var/run/postgresql/.s.PGSQL.${PG_PORT}`)) return t.skip('no PostgreSQL socket in /var/run/postgresql');
    const db = await open([...args().filter((a) => !a.startsWith('host=')), slowQuery, 'timeout=300ms'], undefined, 'socket');
    assert.equal(await ask(db, 'slow', '30'), 'TIMEOUT database timeout');
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 0, 5000), 'the query no longer runs on the server');
  });

  it("the database block's timeout cancels the query too, when it is the shorter one", async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...args(), slowQuery, 'timeout=60s', 'onerror-reply=NOTFOUND'], 400);
    const started = Date.now();
    assert.equal(await ask(db, 'slow', '30'), 'NOTFOUND ', 'an explicit onerror-reply covers timeouts (fail open)');
    assert.ok(Date.now() - started < 3000);
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 0, 5000), 'the query no longer runs on the server');
  });

  it('a slow database cannot starve a fast one', async (t) => {
    if (!needPg(t, server)) return;
    const slowDb = await open([...args(), slowQuery, 'pool-size=4'], 1500, 'slow');
    const fastDb = await open([...args(), slowQuery, 'pool-size=4'], 1500, 'fast');
    let slowDone = false;
    const slow = Promise.all(Array.from({ length: 8 }, () => ask(slowDb, 'slow', '30'))).finally(() => (slowDone = true));
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 4, 5000), 'the slow database has every connection busy');
    let answered = 0;
    let slowest = 0;
    while (!slowDone) {
      const t0 = Date.now();
      assert.equal(await ask(fastDb, `k${answered}`), `OK fast k${answered}`);
      slowest = Math.max(slowest, Date.now() - t0);
      answered++;
    }
    for (const r of await slow) assert.match(r, /^TIMEOUT /);
    assert.ok(answered >= 20, `the fast database answered ${answered} lookups meanwhile`);
    assert.ok(slowest < 1000, `no fast lookup waited for the slow ones (slowest ${slowest} ms)`);
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 0, 5000), 'no slow query is left on the server');
  });

  it('lookups survive their pooled connections being terminated while idle', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...args(), byKey(), 'pool-size=3'], undefined, 'terminated');
    assert.deepEqual(await Promise.all([ask(db, 'k'), ask(db, 'k'), ask(db, 'k')]), ['OK value', 'OK value', 'OK value']);
    const killed = await server.admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND state = 'idle'", [role]);
    assert.ok(killed.rowCount! >= 1, 'the module had idle connections to terminate');
    const right = await Promise.all([ask(db, 'k'), ask(db, 'k'), ask(db, 'k'), ask(db, 'k')]);
    for (const r of right) assert.match(r, /^(OK value|TEMP \S.*)$/);
    const seen = await untilOk(db, 'k', 3000);
    assert.equal(seen.at(-1), 'OK value', `recovered by itself (answers: ${seen.join(' | ')})`);
  });

  it('while the server is unreachable lookups answer TEMP at once, and recover when it is back', async (t) => {
    if (!needPg(t, server)) return;
    const r = await relay();
    const db = await open([...args(r.port), byKey()], undefined, 'outage');
    assert.equal(await ask(db, 'k'), 'OK value');
    await r.stop();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const reply = await ask(db, 'k');
      assert.match(reply, /^TEMP \S/, reply);
      assert.ok(Date.now() - started < 1500, 'a dead server is reported at once, not after the timeout');
    }
    await r.start();
    const seen = await untilOk(db, 'k', 5000);
    assert.equal(seen.at(-1), 'OK value', `recovered by itself (answers: ${seen.join(' | ')})`);
  });

  it('an outage logs its first failed lookup, and holds back the rest for a while', async (t) => {
    if (!needPg(t, server)) return;
    const r = await relay();
    const { ctx, lines } = capturingContext(databaseContext('outage-log', [], 'pg'));
    const db = (await postgresModule.initDb([...args(r.port), byKey()], ctx)) as PostgresDb;
    await postgresModule.openDb!(db);
    opened.push(db);
    await r.stop();
    for (let i = 0; i < 20; i++) assert.match(await ask(db, 'k'), /^TEMP \S/);
    const failed = lines.filter((l) => l.msg === 'postgres lookup failed');
    assert.equal(failed.length, 1, `one line per ${RATE_LOG_INTERVAL_MS} ms, not one per lookup`);
    assert.equal(failed[0]!.repeated, undefined, 'the first line is logged at once, alone');
    assert.match(String(failed[0]!.err), /\S/, 'the line says why');
  });

  it('an open that failed while the server was down succeeds once it is back', async (t) => {
    if (!needPg(t, server)) return;
    const r = await relay();
    await r.stop();
    const db = (await postgresModule.initDb([...args(r.port), byKey()], databaseContext('later', [], 'pg'))) as PostgresDb;
    opened.push(db);
    await assert.rejects(Promise.resolve(postgresModule.openDb!(db)), (e: unknown) => e instanceof BackendError && /ECONNREFUSED/.test(e.message));
    await r.start();
    await postgresModule.openDb!(db);
    assert.equal(await ask(db, 'k'), 'OK value');
  });

  it('fails over to the next host of the list while the first is down, and goes back when it returns', async (t) => {
    if (!needPg(t, server)) return;
    const primary = await relay();
    const replica = await relay();
    const db = await open(
      ['host=127.0.0.1,127.0.0.1', `port=${primary.port},${replica.port}`, ...args().filter((a) => !/^(host|port)=/.test(a)), byKey(), 'pool-size=2'],
      undefined,
      'failover',
    );
    assert.equal(await ask(db, 'k'), 'OK value');
    assert.ok(primary.accepted >= 1 && replica.accepted === 0, 'the first host serves while it is up');
    await primary.stop();
    const during = await untilOk(db, 'k', 3000);
    assert.equal(during.at(-1), 'OK value', `the replica answered (answers: ${during.join(' | ')})`);
    assert.ok(replica.accepted >= 1, 'through the second host');
    const before = primary.accepted;
    await primary.start();
    assert.ok(
      await waitFor(async () => (await ask(db, 'k')) === 'OK value' && primary.accepted > before, 10_000),
      'new connections go to the first host again once it is back',
    );
  });

  it('a first host that swallows connections holds up one lookup per retry, not all of them', async (t) => {
    if (!needPg(t, server)) return;
    // Accepts and never answers, as a host behind a dropping firewall would.
    const held = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const silentPort = (silent.address() as net.AddressInfo).port;
      const db = await open(
        ['host=127.0.0.1,127.0.0.1', `port=${silentPort},${PG_PORT}`, ...args().filter((a) => !/^(host|port)=/.test(a)), byKey(), 'connect_timeout=2', 'timeout=10s'],
        undefined,
        'blackhole',
      );
      const burst = async (): Promise<number[]> =>
        Promise.all(
          Array.from({ length: 8 }, async () => {
            const t0 = Date.now();
            assert.equal(await ask(db, 'k'), 'OK value');
            return Date.now() - t0;
          }),
        );
      const meanwhile = await burst();
      assert.ok(Math.max(...meanwhile) < 1500, `while the first host is marked down nobody waits on it (${meanwhile.join(', ')} ms)`);
      // Past the pause the first host is tried again: by one lookup, which waits for connect_timeout.
      await sleep(DOWN_MS + 200);
      const retry = (await burst()).sort((a, b) => a - b);
      assert.ok(retry[6]! < 1500, `only one lookup waited on the silent host (${retry.join(', ')} ms)`);
      assert.ok(retry[7]! >= 1500, `the probe did try it (${retry.join(', ')} ms)`);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
