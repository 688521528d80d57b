/**
 * The postgres module's pipelining: many lookups in flight on one connection (pool-size=1), each answered to
 * its own caller; an error in the middle of a pipeline fails that lookup only; hostile and 8-bit keys stay
 * data; a lookup that times out takes its connection down, and the lookups queued behind it are answered on
 * a new one. A relay between the module and the real server counts connections and sees the batches.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import postgresModule, { type PostgresDb } from '../../modules/postgres/index.js';
import type { Reply } from '../../src/modules/api.js';
import { TcpRelay } from '../helpers/tcp-relay.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn } from './mysql-fixture.js';
import { cancelQueries, connectPg, createBoxTable, needPg, PG_DATABASE, PG_HOST, PG_PORT, PG_USER, type PgServer, runningQueries, uniqueName, waitFor } from './postgres-fixture.js';

/** Execute (unnamed portal, 1 row) followed by Sync: the tail of every lookup the module sends. */
const EXECUTE_AND_SYNC = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 1, 0x53, 0, 0, 0, 4]);

/** Counts connections, and the most lookups that arrived in one chunk of one connection. */
class BatchRelay extends TcpRelay {
  mostInOneChunk = 0;

  constructor() {
    super(PG_PORT, PG_HOST, () => (chunk) => {
      let n = 0;
      for (let at = chunk.indexOf(EXECUTE_AND_SYNC); at >= 0; at = chunk.indexOf(EXECUTE_AND_SYNC, at + 1)) n++;
      this.mostInOneChunk = Math.max(this.mostInOneChunk, n);
    });
  }
}

const HOSTILE = ["o'brien", "'; DROP TABLE x; --", 'a\\b', '100%', 'a_c', '*', '$1', 'café', '日本', '😀', 'x'.repeat(10_000)];
const KEYS = [...Array.from({ length: 200 }, (_, i) => `user${i}@example.org`), ...HOSTILE];

let server: PgServer | undefined;
const table = uniqueName('smapd_pipe');
const marker = uniqueName('smapd_pslow');
const opened: PostgresDb[] = [];
const relays: TcpRelay[] = [];

async function openThrough(query: string, extra: string[] = [], dbId = 'pipe'): Promise<{ db: PostgresDb; relay: BatchRelay }> {
  const relay = new BatchRelay();
  await relay.start();
  relays.push(relay);
  const args = ['host=127.0.0.1', `port=${relay.port}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, 'sslmode=disable', `query=${query}`, 'pool-size=1', ...extra];
  const db = await openDatabase(postgresModule, args, databaseContext(dbId, [], 'pg'), opened);
  return { db, relay };
}

function ask(db: PostgresDb, key: string): Promise<Reply> {
  return lookUp(postgresModule, db, 'm', key, conn);
}

describe('postgres module pipelining', () => {
  before(async () => {
    server = await connectPg();
    if (server.admin === null) return;
    await createBoxTable(server.admin, table, KEYS);
  });

  after(async () => {
    for (const db of opened) await postgresModule.closeDb!(db);
    for (const r of relays) await r.stop();
    if (server?.admin) {
      await cancelQueries(server.admin, marker);
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.end();
    }
  });

  it('answers many lookups in flight on one connection, each to its own caller, hostile keys as data', async (t) => {
    if (!needPg(t, server)) return;
    const { db, relay } = await openThrough(`SELECT v FROM ${table} WHERE k = $key`);
    for (let wave = 0; wave < 2; wave++) {
      const asked = [...KEYS, 'nobody', ...KEYS.slice(0, 50)].reverse();
      const replies = await Promise.all(asked.map((k) => ask(db, k)));
      replies.forEach((r, i) => assert.equal(r, asked[i] === 'nobody' ? 'NOTFOUND ' : `OK box of ${asked[i]}`, `wave ${wave}, key ${asked[i]!.slice(0, 40)}`));
    }
    assert.equal(relay.accepted, 1, 'one connection');
    assert.ok(relay.mostInOneChunk > 1, `lookups left together (at most ${relay.mostInOneChunk} in one chunk)`);
    const rows = await server.admin.query(`SELECT count(*)::int AS n FROM ${table}`);
    assert.equal((rows.rows[0] as { n: number }).n, KEYS.length, 'no key ran as SQL');
  });

  it('an error in the middle of a pipeline fails only its own lookup', async (t) => {
    if (!needPg(t, server)) return;
    const { db, relay } = await openThrough('SELECT (100 / $key::int)::text AS v', [], 'errors');
    const keys = ['1', '2', '0', '4', 'x', '5', '0', '10'];
    const want = ['OK 100', 'OK 50', 'TEMP database error', 'OK 25', 'TEMP database error', 'OK 20', 'TEMP database error', 'OK 10'];
    for (let wave = 0; wave < 3; wave++) assert.deepEqual(await Promise.all(keys.map((k) => ask(db, k))), want, `wave ${wave}`);
    assert.equal(relay.accepted, 1, 'the errors kept the connection');
  });

  it('a query that fails to prepare fails the lookups sent with it, and is prepared again later', async (t) => {
    if (!needPg(t, server)) return;
    const missing = uniqueName('smapd_later');
    const { db, relay } = await openThrough(`SELECT v FROM ${missing} WHERE k = $key`, [], 'later');
    assert.deepEqual(await Promise.all(['a', 'b', 'c'].map((k) => ask(db, k))), ['TEMP database error', 'TEMP database error', 'TEMP database error']);
    await server.admin.query(`CREATE TABLE ${missing} (k text PRIMARY KEY, v text)`);
    try {
      await server.admin.query(`INSERT INTO ${missing} VALUES ('a', 'now there')`);
      assert.deepEqual(await Promise.all(['a', 'b'].map((k) => ask(db, k))), ['OK now there', 'NOTFOUND ']);
      assert.equal(relay.accepted, 1);
    } finally {
      await server.admin.query(`DROP TABLE ${missing}`);
    }
  });

  it('a lookup past its timeout drops its connection; the lookups queued behind it are answered on a new one', async (t) => {
    if (!needPg(t, server)) return;
    const query = `SELECT CASE WHEN $key = 'slow' THEN pg_sleep(30)::text || '${marker}' ELSE 'fast ' || $key END AS v`;
    const { db, relay } = await openThrough(query, ['timeout=2s'], 'timeouts');
    assert.equal(await ask(db, 'warm'), 'OK fast warm');
    const slow = ask(db, 'slow');
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 1, 5000), 'the slow query runs');
    // Sent a second after it: when it times out they have a second left to be answered on a new connection.
    await sleep(1000);
    const behind = Promise.all(['a', 'b', 'c'].map((k) => ask(db, k)));
    assert.equal(await slow, 'TIMEOUT database timeout');
    assert.deepEqual(await behind, ['OK fast a', 'OK fast b', 'OK fast c']);
    assert.equal(relay.accepted, 3, 'the first connection, the CancelRequest, and the one that replaced the first');
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 0, 5000), 'the slow query was cancelled');
  });

  it('lookups behind a slow one, with no other connection to go to, wait for it instead of running twice', async (t) => {
    if (!needPg(t, server)) return;
    // Every execution of the query takes a number: the sequence counts them on the server.
    const seq = uniqueName('smapd_runs');
    await server.admin.query(`CREATE SEQUENCE ${seq}`);
    try {
      const query = `SELECT CASE WHEN $key = 'slow' THEN pg_sleep(1)::text || 'slept ${marker}' ELSE 'fast ' || $key END || substr(nextval('${seq}')::text, 1, 0) AS v`;
      const { db, relay } = await openThrough(query, ['timeout=30s'], 'nowhere');
      assert.equal(await ask(db, 'warm'), 'OK fast warm');
      // pool-size=1: stuck behind the slow one, they have nowhere else to go.
      const replies = await Promise.all(['slow', 'a', 'b', 'c'].map((k) => ask(db, k)));
      assert.deepEqual(replies, [`OK slept ${marker}`, 'OK fast a', 'OK fast b', 'OK fast c']);
      const runs = await server.admin.query(`SELECT last_value::int AS n FROM ${seq}`);
      assert.equal((runs.rows[0] as { n: number }).n, 5, 'each lookup ran once');
      assert.equal(relay.accepted, 1);
    } finally {
      await server.admin.query(`DROP SEQUENCE ${seq}`);
    }
  });
});
