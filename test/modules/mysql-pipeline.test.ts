/**
 * The mysql module's own connection against the real MariaDB: many lookups in flight on one connection
 * (pipelined executes) each answered to its caller, an error in the middle failing only its lookup, hostile,
 * 8-bit and long keys as data, logging in with a password, and a connection cut with lookups in flight.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import mysqlModule, { type MysqlDb } from '../../modules/mysql/index.js';
import { BackendError, bytesToText, keyBytes, type Reply } from '../../src/modules/api.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn, connectServer, DB_HOST, DB_NAME, DB_PORT, needServer, Relay, sleep, tcpArgs, uniqueName, type Server } from './mysql-fixture.js';
import { TapRelay } from './sql-tap-relay.js';

let server: Server | undefined;
const table = uniqueName('smapd_pipe');
const user = uniqueName('smapd_pw');
const password = `pw'"\\ ${randomBytes(6).toString('hex')} ü`;
const opened: MysqlDb[] = [];
const KEYS = Array.from({ length: 200 }, (_, i) => `key${i}`);

async function open(args: string[], dbId = 'pipe'): Promise<MysqlDb> {
  return openDatabase(mysqlModule, args, databaseContext(dbId, [], 'mysql'), opened);
}

function ask(db: MysqlDb, key: string, map = 'm'): Promise<Reply> {
  return lookUp(mysqlModule, db, map, key, conn);
}

/** The lookups in flight on the database's busiest connection right now. */
function inFlight(db: MysqlDb): number {
  return db.pool!.pick().load;
}

describe('mysql module connection', () => {
  before(async () => {
    server = await connectServer();
    if (server.admin === null) return;
    await server.admin.query(`CREATE TABLE ${table} (k VARCHAR(190) PRIMARY KEY, v TEXT) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await server.admin.query(`INSERT INTO ${table} (k, v) VALUES ?`, [KEYS.map((k) => [k, `value of ${k}`])]);
    await server.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD(?)`, [password]);
    await server.admin.query(`GRANT SELECT ON ${DB_NAME}.${table} TO '${user}'@'%'`);
  });

  after(async () => {
    for (const db of opened) await mysqlModule.closeDb!(db);
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await server.admin.end();
    }
  });

  it('sends many lookups on one connection without waiting, and answers each caller with its own row', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new TapRelay(DB_PORT, DB_HOST, Buffer.from('smapd-pipe-marker'));
    await relay.start();
    try {
      const args = ['host=127.0.0.1', `port=${relay.port}`, ...tcpArgs.filter((a) => !/^(host|port)=/.test(a)), 'pool-size=1'];
      const db = await open([...args, `query=SELECT /* smapd-pipe-marker */ v FROM ${table} WHERE k = $key`]);
      for (let wave = 0; wave < 3; wave++) {
        const asked = [...KEYS, 'nobody'].map((k) => ask(db, k));
        assert.equal(inFlight(db), KEYS.length + 1, 'every lookup of the wave is in flight on the one connection');
        const replies = await Promise.all(asked);
        KEYS.forEach((k, i) => assert.equal(replies[i], `OK value of ${k}`, `wave ${wave}, ${k}`));
        assert.equal(replies.at(-1), 'NOTFOUND ');
      }
      assert.equal(relay.accepted, 1, 'one connection');
      assert.equal(relay.sent, 1, 'prepared once');
    } finally {
      await relay.stop();
    }
  });

  it('an SQL error in the middle of a pipeline fails that lookup only', async (t) => {
    if (!needServer(t, server)) return;
    // A scalar subquery of two rows is an error at execution time, for the key 'bad' only.
    const db = await open([...tcpArgs, 'pool-size=1', `query=SELECT IF($key = 'bad', (SELECT 1 UNION SELECT 2), CONCAT('fine ', $key)) AS v`]);
    const keys = ['a', 'b', 'bad', 'c', 'bad', 'd'];
    const replies = await Promise.all(keys.map((k) => ask(db, k)));
    assert.deepEqual(replies, ['OK fine a', 'OK fine b', 'TEMP database error', 'OK fine c', 'TEMP database error', 'OK fine d']);
    assert.equal(await ask(db, 'e'), 'OK fine e', 'the connection goes on');
  });

  it('a lookup behind one that timed out is answered on a new connection, never on the dropped one', async (t) => {
    if (!needServer(t, server)) return;
    // One connection: `late` is sent behind `slow`. At slow's deadline the connection is dropped, and late,
    // which did nothing wrong and has time left, is tried again: on a new connection, not the closed one
    // still listed in the pool while its victims are being told.
    const db = await open([...tcpArgs, 'pool-size=1', 'timeout=400ms', `query=SELECT IF($key = 'slow', SLEEP(5), CONCAT('quick ', $key)) AS v`]);
    assert.equal(await ask(db, 'warm'), 'OK quick warm');
    const slow = ask(db, 'slow');
    await sleep(200);
    const late = ask(db, 'late');
    assert.equal(inFlight(db), 2, 'late waits behind slow on the one connection');
    assert.match(await slow, /^TIMEOUT /);
    assert.equal(await late, 'OK quick late');
  });

  it('takes hostile, 8-bit and long keys as data, in flight together', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([...tcpArgs, 'pool-size=1', "query=SELECT CONCAT(LENGTH($key), ' ', MD5($key)) AS v"]);
    const raw = (...bytes: number[]): string => bytesToText(Buffer.from(bytes));
    const keys = [
      "' OR 1=1 --",
      "x'); DROP TABLE t; --",
      '\\',
      '\u0000nul',
      'ünïcødé ✉ 🎉',
      raw(0xfe),
      raw(0xff),
      raw(0x63, 0x61, 0x66, 0xe9),
      'k'.repeat(250),
      'l'.repeat(70_000),
      raw(...Array.from({ length: 300 }, (_, i) => 128 + (i % 128))),
    ];
    const replies = await Promise.all(keys.map((k) => ask(db, k)));
    keys.forEach((k, i) => {
      const bytes = keyBytes(k);
      assert.equal(replies[i], `OK ${bytes.length} ${createHash('md5').update(bytes).digest('hex')}`, `key ${i}`);
    });
  });

  it('logs in with a password (mysql_native_password), and fails the open with the server reason when it is wrong', async (t) => {
    if (!needServer(t, server)) return;
    const mine = [`host=${DB_HOST}`, `port=${DB_PORT}`, `user=${user}`, `database=${DB_NAME}`, 'config-file=', `query=SELECT v FROM ${table} WHERE k = $key`];
    const db = await open([...mine, `password=${password}`], 'pw-right');
    assert.equal(await ask(db, 'key7'), 'OK value of key7');
    const wrong = (await mysqlModule.initDb([...mine, 'password=wrong'], databaseContext('pw-wrong', [], 'mysql'))) as MysqlDb;
    await assert.rejects(Promise.resolve(mysqlModule.openDb!(wrong)), (e: unknown) => e instanceof BackendError && /Access denied for user/.test(e.message));
  });

  it('fails the lookups in flight when the connection is cut, and works again when the server is back', async (t) => {
    if (!needServer(t, server)) return;
    const relay = new Relay();
    await relay.start();
    try {
      const args = ['host=127.0.0.1', `port=${relay.port}`, ...tcpArgs.filter((a) => !/^(host|port)=/.test(a)), 'pool-size=1', 'timeout=20s'];
      const db = await open([...args, "query=SELECT CONCAT(SLEEP($map), $key) AS v"]);
      assert.equal(await ask(db, 'warm', '0'), 'OK 0warm');
      const pending = ['a', 'b', 'c', 'd'].map((k) => ask(db, k, '0.5'));
      await sleep(100);
      await relay.stop();
      // Retried once (the connection had answered before), on a new connection that is refused: TEMP, not a hang.
      assert.deepEqual(await Promise.all(pending), Array(4).fill('TEMP database error'));
      await relay.start();
      let reply = '';
      for (let i = 0; i < 30 && !reply.startsWith('OK'); i++) {
        reply = await ask(db, 'back', '0');
        if (!reply.startsWith('OK')) await sleep(100);
      }
      assert.equal(reply, 'OK 0back');
    } finally {
      await relay.stop();
    }
  });
});
