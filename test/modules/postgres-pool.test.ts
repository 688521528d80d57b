/**
 * The postgres module's connections under concurrent lookups: the default pool size (the most connections),
 * a steady load packed onto few of them, every lookup answered with its own row, and each connection
 * preparing the statement once (through relays that see what goes to the server); connections closed for
 * being idle while the server no longer answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import postgresModule, { type PostgresDb } from '../../modules/postgres/index.js';
import { DEFAULT_POOL_SIZE } from '../../modules/postgres/settings.js';
import type { Reply } from '../../src/modules/api.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn } from './mysql-fixture.js';
import { connectPg, createBoxTable, needPg, PG_DATABASE, PG_HOST, PG_PORT, PG_USER, type PgServer, uniqueName } from './postgres-fixture.js';
import { TcpRelay } from '../helpers/tcp-relay.js';
import { TapRelay } from './sql-tap-relay.js';

/**
 * A relay to the real server whose connections so far can be made to play a server that died without a word
 * (`hold()`): nothing more passes either way, and they stay open (a goodbye is never answered). Connections
 * made later are relayed as usual.
 */
class HoldingRelay {
  private server: net.Server | null = null;
  private readonly live = new Set<{ client: net.Socket; upstream: net.Socket; held: boolean }>();
  port = 0;
  accepted = 0;

  async start(): Promise<void> {
    this.server = net.createServer({ allowHalfOpen: true }, (client) => {
      this.accepted++;
      const upstream = net.connect(PG_PORT, PG_HOST);
      const pair = { client, upstream, held: false };
      this.live.add(pair);
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
      client.on('data', (d: Buffer) => void (pair.held || upstream.write(d)));
      upstream.on('data', (d: Buffer) => void (pair.held || client.write(d)));
      client.on('end', () => pair.held || upstream.end());
      client.on('close', () => {
        this.live.delete(pair);
        upstream.destroy();
      });
      upstream.on('close', () => pair.held || client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** The connections so far go silent and stay open; returns how many. */
  hold(): number {
    for (const pair of this.live) {
      pair.held = true;
      pair.upstream.destroy();
    }
    return this.live.size;
  }

  async stop(): Promise<void> {
    for (const p of this.live) {
      p.client.destroy();
      p.upstream.destroy();
    }
    if (this.server !== null) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

/** The connections `db` has open, closing ones included. */
function openLinks(db: PostgresDb): number {
  return db.servers!['servers'].reduce((n, s) => n + s.links.length, 0);
}

/** Close the idle connections of `db` now, as the sweep does for those idle a minute. */
function closeIdleNow(db: PostgresDb): void {
  const servers = db.servers!;
  for (const s of servers['servers']) for (const l of s.links) l.idleSince = 0;
  servers['closeIdle']();
}

const KEYS = Array.from({ length: 60 }, (_, i) => `user${i}@example.org`);

let server: PgServer | undefined;
const table = uniqueName('smapd_pool');
const marker = uniqueName('tap');
const opened: PostgresDb[] = [];
const relays: { stop(): Promise<void> }[] = [];

async function openThrough(query: string, extra: string[] = []): Promise<{ db: PostgresDb; relay: TapRelay }> {
  const relay = new TapRelay(PG_PORT, PG_HOST, Buffer.from(marker));
  await relay.start();
  relays.push(relay);
  const args = ['host=127.0.0.1', `port=${relay.port}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, 'sslmode=disable', `query=${query}`, ...extra];
  const db = await openDatabase(postgresModule, args, databaseContext(`pool${opened.length}`, [], 'pg'), opened);
  return { db, relay };
}

function ask(db: PostgresDb, key: string): Promise<Reply> {
  return lookUp(postgresModule, db, 'aliases', key, conn);
}

describe('postgres module pool', () => {
  before(async () => {
    server = await connectPg();
    if (server.admin === null) return;
    await createBoxTable(server.admin, table, KEYS);
  });

  after(async () => {
    for (const db of opened) await postgresModule.closeDb!(db);
    for (const r of relays) await r.stop();
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.end();
    }
  });

  it(`opens up to ${DEFAULT_POOL_SIZE} connections by default when more lookups wait`, async (t) => {
    if (!needPg(t, server)) return;
    assert.equal(DEFAULT_POOL_SIZE, 8);
    const { db, relay } = await openThrough(`SELECT /* ${marker} */ v FROM ${table}, pg_sleep(0.3) WHERE k = $key`);
    const replies = await Promise.all(KEYS.slice(0, 16).map((k) => ask(db, k)));
    replies.forEach((r, i) => assert.equal(r, `OK box of ${KEYS[i]}`));
    assert.equal(relay.accepted, DEFAULT_POOL_SIZE, 'one connection per lookup in flight, up to the default pool size');
  });

  it('packs a steady load onto few of its connections (pipelined), after a burst opened them all', async (t) => {
    if (!needPg(t, server)) return;
    const used = new Set<number>();
    let connections = 0;
    const relay = new TcpRelay(PG_PORT, PG_HOST, () => {
      const id = connections++;
      return () => used.add(id);
    });
    await relay.start();
    relays.push(relay);
    const args = ['host=127.0.0.1', `port=${relay.port}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, 'sslmode=disable', `query=SELECT v FROM ${table} WHERE k = $key`];
    const db = await openDatabase(postgresModule, args, databaseContext('packed', [], 'pg'), opened);
    // A burst of 60 at once, on a connection that has not answered yet, opens the rest.
    await Promise.all(KEYS.map((k) => ask(db, k)));
    assert.equal(relay.accepted, DEFAULT_POOL_SIZE, 'the burst opened every connection');
    used.clear();
    // 16 callers, each asking again as soon as it has its answer, as smapd's clients do.
    const caller = async (c: number): Promise<void> => {
      for (let i = 0; i < 25; i++) {
        const k = KEYS[(c * 25 + i) % KEYS.length]!;
        assert.equal(await ask(db, k), `OK box of ${k}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, c) => caller(c)));
    assert.ok(used.size < DEFAULT_POOL_SIZE, `16 callers went through ${used.size} of the ${DEFAULT_POOL_SIZE} connections`);
  });

  it('answers many concurrent lookups each with its own row, preparing the statement once per connection', async (t) => {
    if (!needPg(t, server)) return;
    const { db, relay } = await openThrough(`SELECT /* ${marker} */ v FROM ${table} WHERE k = $key`, ['pool-size=3']);
    for (let wave = 0; wave < 3; wave++) {
      const replies = await Promise.all(KEYS.map((k) => ask(db, k)));
      replies.forEach((r, i) => assert.equal(r, `OK box of ${KEYS[i]}`, `wave ${wave}, key ${KEYS[i]}`));
      assert.equal(await ask(db, 'nobody@example.org'), 'NOTFOUND ');
    }
    assert.ok(relay.accepted >= 1 && relay.accepted <= 3, `at most pool-size connections (${relay.accepted})`);
    assert.equal(relay.sent, relay.accepted, 'the query text went to the server once per connection: later lookups executed the prepared statement');
  });

  it('a connection closed for being idle is cut when the server never answers the goodbye', async (t) => {
    if (!needPg(t, server)) return;
    const relay = new HoldingRelay();
    await relay.start();
    relays.push(relay);
    const args = ['host=127.0.0.1', `port=${relay.port}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, 'sslmode=disable', `query=SELECT v FROM ${table} WHERE k = $key`, 'pool-size=2'];
    const db = await openDatabase(postgresModule, args, databaseContext('idle-cut', [], 'pg'), opened);
    assert.equal(await ask(db, KEYS[0]!), `OK box of ${KEYS[0]}`);
    assert.equal(relay.hold(), 1, 'one connection, now held silent');
    closeIdleNow(db);
    assert.equal(openLinks(db), 1, 'closing: the server has not hung up');
    // The module cuts it after a bounded wait (2 s); allow much more, for a loaded machine.
    for (let i = 0; i < 300 && openLinks(db) > 0; i++) await sleep(100);
    assert.equal(openLinks(db), 0, 'the module cut the connection that never closed');
  });

  it('while every connection is closing, a lookup opens a new one instead of waiting for the timeout', async (t) => {
    if (!needPg(t, server)) return;
    const relay = new HoldingRelay();
    await relay.start();
    relays.push(relay);
    const args = ['host=127.0.0.1', `port=${relay.port}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, 'sslmode=disable', `query=SELECT v FROM ${table} WHERE k = $key`, 'pool-size=1', 'timeout=10s'];
    const db = await openDatabase(postgresModule, args, databaseContext('all-closing', [], 'pg'), opened);
    assert.equal(await ask(db, KEYS[0]!), `OK box of ${KEYS[0]}`);
    // The one connection closes and, its server silent, stays closing.
    assert.equal(relay.hold(), 1);
    closeIdleNow(db);
    assert.deepEqual(await Promise.all([ask(db, KEYS[1]!), ask(db, KEYS[2]!)]), [`OK box of ${KEYS[1]}`, `OK box of ${KEYS[2]}`]);
    assert.equal(relay.accepted, 2, 'on a new connection');
  });
});
