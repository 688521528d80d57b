/**
 * The mysql module when things go wrong on the real server: slow queries, killed connections, an outage.
 * The module logs in as a user made for this file, so killing "its" connections spares everyone else's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import mysqlModule, { type MysqlDb } from '../../modules/mysql/index.js';
import { RATE_LOG_INTERVAL_MS, type Reply } from '../../src/modules/api.js';
import { BackendError } from '../../src/errors.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { capturingContext } from './sql-log-capture.js';
import { conn, connectServer, DB_HOST, DB_NAME, DB_PORT, needServer, Relay, sleep, uniqueName, type Server } from './mysql-fixture.js';

let server: Server | undefined;
const user = uniqueName('smapd_f');
const password = randomBytes(12).toString('hex');
const table = uniqueName('smapd_ft');
const opened: MysqlDb[] = [];

/** `slow` sleeps for the number of seconds in the map name; any other key answers at once. */
const slowQuery = "query=SELECT IF($key = 'slow', SLEEP($map), CONCAT('fast ', $key)) AS v";

function args(extra: string[], port = DB_PORT): string[] {
  return [`host=${DB_HOST}`, `port=${port}`, `user=${user}`, `password=${password}`, `database=${DB_NAME}`, 'config-file=', ...extra];
}

async function open(a: string[]): Promise<MysqlDb> {
  return openDatabase(mysqlModule, a, databaseContext('faulty', [], 'mysql'), opened);
}

function ask(db: MysqlDb, key: string, map = '0'): Promise<Reply> {
  return lookUp(mysqlModule, db, map, key, conn);
}

async function threadsOfUser(s: Server & { admin: NonNullable<Server['admin']> }): Promise<{ id: number; command: string; info: string | null }[]> {
  const [rows] = await s.admin.query('SELECT id, command, info FROM information_schema.processlist WHERE user = ?', [user]);
  return rows as { id: number; command: string; info: string | null }[];
}

async function killAll(s: Server & { admin: NonNullable<Server['admin']> }): Promise<number> {
  const threads = await threadsOfUser(s);
  for (const th of threads) await s.admin.query(`KILL ${Number(th.id)}`).catch(() => undefined);
  return threads.length;
}

/** Check `cond` every 20 ms until it holds (true) or `ms` pass (false). */
async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= end) return false;
    await sleep(20);
  }
}

/** Ask until the answer starts with OK, for at most `ms`; returns every answer seen. */
async function untilOk(db: MysqlDb, key: string, ms: number): Promise<Reply[]> {
  const seen: Reply[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await ask(db, key);
    seen.push(r);
    if (r.startsWith('OK ')) return seen;
    await sleep(100);
  }
  return seen;
}

/**
 * A relay to the test server whose new connections, while `mode` says so, never get the greeting (`silent`:
 * the client stays connecting) or get it but never reach the server (`greet`: the client stays logging in;
 * the server side is kept open when the client goes, so its thread lives on). Half-closes pass through as
 * they are (a client's goodbye does not close the connection before the server answers the queries before
 * it), unlike Relay's.
 */
class LoginRelay {
  mode: 'forward' | 'silent' | 'greet' = 'forward';
  accepted = 0;
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer({ allowHalfOpen: true }, (client) => {
    this.accepted++;
    this.track(client);
    if (this.mode === 'silent') return;
    const upstream = this.track(net.connect({ port: DB_PORT, host: DB_HOST, allowHalfOpen: true }));
    upstream.pipe(client);
    if (this.mode === 'greet') return;
    client.pipe(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });

  private track(s: net.Socket): net.Socket {
    this.sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => this.sockets.delete(s));
    return s;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('mysql module faults', () => {
  before(async () => {
    server = await connectServer();
    if (server.admin === null) return;
    await server.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    await server.admin.query(`CREATE TABLE ${table} (k VARCHAR(100) PRIMARY KEY, v TEXT)`);
    await server.admin.query(`INSERT INTO ${table} VALUES ('k', 'value')`);
    await server.admin.query(`GRANT SELECT ON ${DB_NAME}.${table} TO '${user}'@'%'`);
  });

  after(async () => {
    for (const db of opened) await mysqlModule.closeDb!(db);
    if (server?.admin) {
      await killAll(server as Server & { admin: NonNullable<Server['admin']> });
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await server.admin.end();
    }
  });

  it('a query past timeout= answers TIMEOUT, is killed on the server, and does not stall other lookups', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open(args([slowQuery, 'timeout=1s']));
    const srv = server;
    const sleeping = async () => (await threadsOfUser(srv)).filter((th) => /SLEEP/i.test(th.info ?? '')).length;
    const started = Date.now();
    let slowSettled = false;
    const slow = ask(db, 'slow', '10').finally(() => (slowSettled = true));
    // Wait for the slow query to be at the server, rather than for a fixed time.
    assert.ok(await waitFor(async () => (await sleeping()) === 1 || slowSettled, 5000), 'the slow query reached the server');
    assert.equal(await ask(db, 'quick'), 'OK fast quick');
    assert.equal(slowSettled, false, 'the second lookup was answered while the slow one was still waiting');
    const r = await slow;
    const took = Date.now() - started;
    assert.equal(r, 'TIMEOUT database timeout');
    // Not before the timeout; and long before the query's own 10 s, however loaded the machine.
    assert.ok(took >= 950 && took < 6000, `timed out after ${took} ms`);
    // Within 3 s: MariaDB ends a SLEEP() whose client has gone by itself only at its next 5 s slice, so this
    // shows the KILL, not the dropped connection.
    assert.ok(await waitFor(async () => (await sleeping()) === 0, 3000), 'the abandoned query no longer runs on the server');
    const again = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => ask(db, k)));
    assert.deepEqual(again, ['OK fast a', 'OK fast b', 'OK fast c', 'OK fast d', 'OK fast e']);
  });

  it('kills timed-out queries again after its kill connection was itself killed', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open(args([slowQuery, 'timeout=300ms', 'pool-size=2']));
    const s = server;
    const sleeping = async () => (await threadsOfUser(s)).filter((th) => /SLEEP/i.test(th.info ?? '')).length;
    // Within 2 s: MariaDB ends a SLEEP() whose client has gone by itself, but only at its next 5 s slice.
    const gone = async (): Promise<boolean> => {
      for (let i = 0; i < 40; i++) {
        if ((await sleeping()) === 0) return true;
        await sleep(50);
      }
      return false;
    };
    assert.match(await ask(db, 'slow', '30'), /^TIMEOUT /);
    assert.ok(await gone(), 'the first slow query was killed');
    assert.ok((await killAll(server)) >= 1, 'the kill connection (and the pool) were killed');
    assert.match(await ask(db, 'slow', '30'), /^TIMEOUT /);
    assert.ok(await gone(), 'the second slow query was killed too, over a new kill connection');
  });

  it('an explicit onerror-reply also covers timeouts unless timeout-reply is given', async (t) => {
    if (!needServer(t, server)) return;
    const failOpen = await open(args([slowQuery, 'timeout=200ms', 'onerror-reply=NOTFOUND', 'pool-size=2']));
    assert.equal(await ask(failOpen, 'slow', '1'), 'NOTFOUND ');
    const own = await open(args([slowQuery, 'timeout=200ms', 'onerror-reply=NOTFOUND', 'timeout-reply=TEMP slow: ${error}', 'pool-size=2']));
    assert.equal(await ask(own, 'slow', '1'), 'TEMP slow: database timeout');
  });

  it('lookups survive their pooled connections being killed while idle', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open(args([`query=SELECT v FROM ${table} WHERE k = $key`, 'pool-size=3']));
    const warm = await Promise.all([ask(db, 'k'), ask(db, 'k'), ask(db, 'k')]);
    assert.deepEqual(warm, ['OK value', 'OK value', 'OK value']);
    assert.ok((await killAll(server)) >= 1, 'the module had connections to kill');
    await sleep(50);
    const right = await Promise.all([ask(db, 'k'), ask(db, 'k'), ask(db, 'k'), ask(db, 'k')]);
    for (const r of right) assert.match(r, /^(OK value|TEMP \S.*)$/);
    const seen = await untilOk(db, 'k', 3000);
    assert.equal(seen.at(-1), 'OK value', `recovered by itself (answers: ${seen.join(' | ')})`);
  });

  it('a connection killed mid-query answers TEMP with the reason, then lookups recover', async (t) => {
    if (!needServer(t, server)) return;
    // pool-size=1 gives this database a pool of its own with one fresh connection, so nothing is retried.
    const db = await open(args([slowQuery, 'timeout=10s', 'pool-size=1']));
    const pending = ask(db, 'slow', '5');
    let killed = 0;
    for (let i = 0; i < 20 && killed === 0; i++) {
      await sleep(100);
      const busy = (await threadsOfUser(server)).filter((th) => /SLEEP/i.test(th.info ?? ''));
      for (const th of busy) await server.admin.query(`KILL ${Number(th.id)}`);
      killed = busy.length;
    }
    assert.equal(killed, 1, 'the sleeping lookup was found and killed');
    assert.match(await pending, /^TEMP \S+/);
    const seen = await untilOk(db, 'k', 3000);
    assert.equal(seen.at(-1), 'OK fast k', `recovered by itself (answers: ${seen.join(' | ')})`);
  });

  it('while the server is unreachable lookups answer TEMP at once, and recover when it is back', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new Relay();
    await relay.start();
    try {
      const db = await open(args([`query=SELECT v FROM ${table} WHERE k = $key`], relay.port));
      assert.equal(await ask(db, 'k'), 'OK value');
      await relay.stop();
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const r = await ask(db, 'k');
        assert.equal(r, 'TEMP database error', 'the client sees no host:port');
        assert.ok(Date.now() - started < 1000, 'a dead server is reported at once, not after the timeout');
      }
      await relay.start();
      const seen = await untilOk(db, 'k', 3000);
      assert.equal(seen.at(-1), 'OK value', `recovered by itself (answers: ${seen.join(' | ')})`);
    } finally {
      await relay.stop();
    }
  });

  it('an outage logs its first failed lookup, and holds back the rest for a while', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new Relay();
    await relay.start();
    const { ctx, lines } = capturingContext(databaseContext('outage', [], 'mysql'));
    const db = (await mysqlModule.initDb(args([`query=SELECT v FROM ${table} WHERE k = $key`], relay.port), ctx)) as MysqlDb;
    try {
      await mysqlModule.openDb!(db);
      opened.push(db);
      await relay.stop();
      for (let i = 0; i < 20; i++) assert.equal(await ask(db, 'k'), 'TEMP database error');
      const failed = lines.filter((l) => l.msg === 'mysql lookup failed');
      assert.equal(failed.length, 1, `one line per ${RATE_LOG_INTERVAL_MS} ms, not one per lookup`);
      assert.equal(failed[0]!.repeated, undefined, 'the first line is logged at once, alone');
      assert.match(String(failed[0]!.err), /\S/, 'the line says why');
    } finally {
      await relay.stop();
    }
  });

  it('an open that failed while the server was down succeeds once it is back', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new Relay();
    await relay.start();
    const port = relay.port;
    await relay.stop();
    try {
      const db = (await mysqlModule.initDb(args([`query=SELECT v FROM ${table} WHERE k = $key`, 'pool-size=2'], port), databaseContext())) as MysqlDb;
      await assert.rejects(Promise.resolve(mysqlModule.openDb!(db)), (e: unknown) => e instanceof BackendError && /ECONNREFUSED/.test(e.message));
      await relay.start();
      await mysqlModule.openDb!(db);
      opened.push(db);
      assert.equal(await ask(db, 'k'), 'OK value');
    } finally {
      await relay.stop();
    }
  });

  it('a lookup lost when the database closes is not retried on a new connection', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new LoginRelay();
    await relay.start();
    const srv = server;
    const sleeping = async () => (await threadsOfUser(srv)).filter((th) => /SLEEP/i.test(th.info ?? ''));
    // The first run of the slow query sleeps 5 s; any run after the update answers at once.
    await srv.admin.query(`REPLACE INTO ${table} VALUES ('pause', '5')`);
    try {
      const query = `query=SELECT IF($key = 'slow', SLEEP((SELECT v FROM ${table} WHERE k = 'pause')), CONCAT('fast ', $key)) AS v`;
      const db = await open(args([query, 'pool-size=1', 'timeout=30s'], relay.port));
      // The connection has answered, so a lookup lost with it counts as stale and may be retried.
      assert.equal(await ask(db, 'warm'), 'OK fast warm');
      const slow = ask(db, 'slow');
      assert.ok(await waitFor(async () => (await sleeping()).length === 1, 5000), 'the slow query reached the server');
      await srv.admin.query(`UPDATE ${table} SET v = '0' WHERE k = 'pause'`);
      // Closing waits 2 s for the slow query (the goodbye queued behind it), then drops its connection.
      const closing = Date.now();
      await mysqlModule.closeDb!(db);
      assert.ok(Date.now() - closing >= 1900, 'the connection was dropped by the close, not closed by the server');
      opened.splice(opened.indexOf(db), 1);
      assert.match(await slow, /^TEMP /, 'the lookup failed with its connection');
      assert.equal(relay.accepted, 1, 'no new connection was made for the closed database');
    } finally {
      for (const th of await sleeping()) await srv.admin.query(`KILL ${Number(th.id)}`).catch(() => undefined);
      await srv.admin.query(`DELETE FROM ${table} WHERE k = 'pause'`);
      await relay.stop();
    }
  });

  it('a lookup timing out on a connection still connecting logs no warning and sends no KILL', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new LoginRelay();
    await relay.start();
    const srv = server;
    const { ctx, lines } = capturingContext(databaseContext('connecting', [], 'mysql'), 'debug');
    const sleeping = async () => (await threadsOfUser(srv)).filter((th) => /SLEEP/i.test(th.info ?? '')).length;
    const kills = () => lines.filter((l) => /kill the timed-out query|killed the timed-out query/.test(l.msg));
    try {
      const db = (await mysqlModule.initDb(args([slowQuery, 'timeout=500ms', 'pool-size=2'], relay.port), ctx)) as MysqlDb;
      opened.push(db);
      await mysqlModule.openDb!(db);
      for (const mode of ['silent', 'greet'] as const) {
        const before = relay.accepted;
        const slow = ask(db, 'slow', '30'); // on the connection of the open
        relay.mode = mode;
        const late = ask(db, 'quick'); // on a new one, which never logs in
        assert.ok(await waitFor(async () => relay.accepted === before + 1, 5000), 'the second connection reached the relay');
        relay.mode = 'forward';
        assert.match(await slow, /^TIMEOUT /);
        assert.match(await late, /^TIMEOUT /);
        // Kills go out one at a time, in order: once the slow query is gone, any kill for the other is done too.
        assert.ok(await waitFor(async () => (await sleeping()) === 0 && kills().length >= 1, 10_000), `${mode}: the slow query was killed`);
        assert.ok(await waitFor(async () => (await ask(db, 'x')) === 'OK fast x', 5000), `${mode}: lookups work again`);
      }
      // A third timeout on a connection that logged in: its kill comes after any kill sent for the others.
      const third = ask(db, 'slow', '30');
      let thread = 0;
      const found = async () => (thread = (await threadsOfUser(srv)).find((th) => /SLEEP/i.test(th.info ?? ''))?.id ?? 0) !== 0;
      assert.ok(await waitFor(found, 5000), 'the third slow query reached the server');
      assert.match(await third, /^TIMEOUT /);
      assert.ok(await waitFor(async () => kills().some((l) => l.thread === thread), 10_000), 'the third slow query was killed');
      assert.equal(kills().length, 3, `one kill per slow query, none for the connections that never logged in: ${JSON.stringify(kills())}`);
      assert.deepEqual(lines.filter((l) => /no thread id/.test(l.msg)), [], 'no warning about a query that was never sent');
    } finally {
      await relay.stop();
    }
  });

  it('a lookup with almost no time left when its connection is dropped for a neighbour answers TIMEOUT instead of retrying', async (t) => {
    if (!needServer(t, server)) return;
    const { ctx, lines } = capturingContext(databaseContext('late', [], 'mysql'));
    const db = (await mysqlModule.initDb(args([slowQuery, 'timeout=2s', 'pool-size=1']), ctx)) as MysqlDb;
    opened.push(db);
    await mysqlModule.openDb!(db);
    assert.equal(await ask(db, 'warm'), 'OK fast warm');
    const pool = db.pool!;
    const pick = pool.pick.bind(pool);
    let picks = 0;
    pool.pick = () => {
      picks++;
      return pick();
    };
    // Asked together: `late` waits behind `slow` on the one connection, and when slow's deadline drops that
    // connection, late's own deadline is as near (far less than a tenth of the timeout away).
    const slow = ask(db, 'slow', '30');
    const late = ask(db, 'late');
    assert.match(await slow, /^TIMEOUT /);
    assert.match(await late, /^TIMEOUT /);
    assert.equal(picks, 2, 'late was not sent again to time out on (and take down) another connection');
    assert.deepEqual(lines.filter((l) => /stale/.test(l.msg)), [], 'a connection dropped on purpose is not called stale');
    assert.equal(await ask(db, 'after'), 'OK fast after');
  });

  it('a lost connection logs one line for the lookups it retries, not one per lookup', async (t) => {
    if (!needServer(t, server)) return;
    const srv = server;
    const { ctx, lines } = capturingContext(databaseContext('stale', [], 'mysql'));
    // The first run of the slow query sleeps 10 s; a retry after the update answers at once.
    await srv.admin.query(`REPLACE INTO ${table} VALUES ('pause', '10')`);
    try {
      const query = `query=SELECT IF($key = 'slow', SLEEP((SELECT v FROM ${table} WHERE k = 'pause')), CONCAT('fast ', $key)) AS v`;
      const db = (await mysqlModule.initDb(args([query, 'timeout=20s', 'pool-size=1']), ctx)) as MysqlDb;
      opened.push(db);
      await mysqlModule.openDb!(db);
      assert.equal(await ask(db, 'warm'), 'OK fast warm');
      const slow = ask(db, 'slow');
      const behind = ['a', 'b', 'c'].map((k) => ask(db, k));
      let busy: { id: number }[] = [];
      assert.ok(await waitFor(async () => (busy = (await threadsOfUser(srv)).filter((th) => /SLEEP/i.test(th.info ?? ''))).length === 1, 5000));
      await srv.admin.query(`UPDATE ${table} SET v = '0' WHERE k = 'pause'`);
      await srv.admin.query(`KILL ${Number(busy[0]!.id)}`);
      assert.deepEqual(await Promise.all(behind), ['OK fast a', 'OK fast b', 'OK fast c'], 'the lookups behind were retried on a new connection');
      // The killed query itself may have been answered with the server's error instead (then not retried).
      const retried = 3 + ((await slow) === 'OK 0' ? 1 : 0);
      const stale = lines.filter((l) => /^stale mysql connection/.test(l.msg));
      assert.equal(stale.length, 1, `one line for the connection: ${JSON.stringify(stale)}`);
      assert.equal(stale[0]!.lookups, retried);
    } finally {
      await srv.admin.query(`DELETE FROM ${table} WHERE k = 'pause'`);
    }
  });
});
