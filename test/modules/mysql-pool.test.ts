/**
 * The mysql module's pool under concurrent lookups: the default pool size, every lookup answered with its own
 * row, and each pooled connection preparing the statement once (through a relay that sees what goes to the
 * server).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mysqlModule, { type MysqlDb } from '../../modules/mysql/index.js';
import { DEFAULT_POOL_SIZE } from '../../modules/mysql/settings.js';
import type { Reply } from '../../src/modules/api.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn, connectServer, DB_HOST, DB_NAME, DB_PASSWORD, DB_PORT, DB_USER, needServer, uniqueName, type Server } from './mysql-fixture.js';
import { TapRelay } from './sql-tap-relay.js';

const KEYS = Array.from({ length: 60 }, (_, i) => `user${i}@example.org`);

let server: Server | undefined;
const table = uniqueName('smapd_pool');
const marker = uniqueName('tap');
const opened: MysqlDb[] = [];
const relays: TapRelay[] = [];

async function openThrough(query: string, extra: string[] = [], shared?: { relay: TapRelay; dbId: string }): Promise<{ db: MysqlDb; relay: TapRelay }> {
  const relay = shared?.relay ?? new TapRelay(DB_PORT, DB_HOST, Buffer.from(marker));
  if (shared === undefined) {
    await relay.start();
    relays.push(relay);
  }
  const args = ['host=127.0.0.1', `port=${relay.port}`, `user=${DB_USER}`, `password=${DB_PASSWORD}`, `database=${DB_NAME}`, 'config-file=', `query=${query}`, ...extra];
  const db = await openDatabase(mysqlModule, args, databaseContext(shared?.dbId ?? `pool${opened.length}`, [], 'mysql'), opened);
  return { db, relay };
}

function ask(db: MysqlDb, key: string): Promise<Reply> {
  return lookUp(mysqlModule, db, 'aliases', key, conn);
}

describe('mysql module pool', () => {
  before(async () => {
    server = await connectServer();
    if (server.admin === null) return;
    await server.admin.query(`CREATE TABLE ${table} (k VARCHAR(190) PRIMARY KEY, v TEXT) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await server.admin.query(`INSERT INTO ${table} (k, v) VALUES ?`, [KEYS.map((k) => [k, `box of ${k}`])]);
  });

  after(async () => {
    for (const db of opened) await mysqlModule.closeDb!(db);
    for (const r of relays) await r.stop();
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.end();
    }
  });

  it(`opens up to ${DEFAULT_POOL_SIZE} connections by default when more lookups wait`, async (t) => {
    if (!needServer(t, server)) return;
    assert.equal(DEFAULT_POOL_SIZE, 2);
    const { db, relay } = await openThrough(`SELECT /* ${marker} */ v, SLEEP(0.3) FROM ${table} WHERE k = '$key'`);
    const replies = await Promise.all(KEYS.slice(0, 16).map((k) => ask(db, k)));
    replies.forEach((r, i) => assert.equal(r, `OK box of ${KEYS[i]}`));
    assert.equal(relay.accepted, DEFAULT_POOL_SIZE, 'one connection per lookup in flight, up to the default pool size');
  });

  it('answers many concurrent lookups each with its own row, preparing the statement once per connection', async (t) => {
    if (!needServer(t, server)) return;
    const { db, relay } = await openThrough(`SELECT /* ${marker} */ v FROM ${table} WHERE k = '$key'`, ['pool-size=3']);
    for (let wave = 0; wave < 3; wave++) {
      const replies = await Promise.all(KEYS.map((k) => ask(db, k)));
      replies.forEach((r, i) => assert.equal(r, `OK box of ${KEYS[i]}`, `wave ${wave}, key ${KEYS[i]}`));
      assert.equal(await ask(db, 'nobody@example.org'), 'NOTFOUND ');
    }
    assert.ok(relay.accepted >= 1 && relay.accepted <= 3, `at most pool-size connections (${relay.accepted})`);
    assert.equal(relay.sent, relay.accepted, 'the query text went to the server once per connection: later lookups executed the prepared statement');
  });

  it('sends no more lookups to a connection stuck on a slow query while another one answers', async (t) => {
    if (!needServer(t, server)) return;
    const query = `SELECT /* ${marker} */ IF(k = 'user0@example.org', SLEEP(3), v) FROM ${table} WHERE k = '$key'`;
    const { db, relay } = await openThrough(query, ['pool-size=2', 'timeout=20s']);
    let slowDone = false;
    const slow = ask(db, KEYS[0]!).finally(() => (slowDone = true));
    // Long enough for the slow query's connection to count as stuck (it answers nothing meanwhile).
    await new Promise((r) => setTimeout(r, 200));
    for (let wave = 0; wave < 5; wave++) {
      const replies = await Promise.all(KEYS.slice(1, 11).map((k) => ask(db, k)));
      replies.forEach((r, i) => assert.equal(r, `OK box of ${KEYS[i + 1]}`));
    }
    assert.equal(slowDone, false, 'fifty lookups were answered while the slow one was still running');
    assert.equal(await slow, 'OK 0');
    assert.equal(relay.accepted, 2);
  });

  it('the old and the new database of a reload share a pool, and each answers by its own query', async (t) => {
    if (!needServer(t, server)) return;
    const first = await openThrough(`SELECT /* ${marker} */ v FROM ${table} WHERE k = '$key'`, ['pool-size=1'], undefined);
    const dbId = first.db.ctx.dbId;
    const second = await openThrough(`SELECT /* ${marker} */ CONCAT('new ', v) FROM ${table} WHERE k = '$key'`, ['pool-size=1'], { relay: first.relay, dbId });
    assert.equal(first.db.pool, second.db.pool, 'one pool for the same database and settings');
    for (let round = 0; round < 3; round++) {
      const replies = await Promise.all(KEYS.slice(0, 10).flatMap((k) => [ask(first.db, k), ask(second.db, k)]));
      KEYS.slice(0, 10).forEach((k, i) => {
        assert.equal(replies[2 * i], `OK box of ${k}`);
        assert.equal(replies[2 * i + 1], `OK new box of ${k}`);
      });
    }
    assert.equal(first.relay.accepted, 1, 'one connection served both');
    assert.equal(first.relay.sent, 2, 'that connection prepared each query once');
  });
});
