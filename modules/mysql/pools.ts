/**
 * Connection pools, one per database: databases that shared a pool because their settings were equal let a
 * slow one take every connection and starve the fast ones. A pool lives while some open database holds it
 * (the old and the new database of a reload share it until the old one closes). Each pool also keeps one
 * connection of its own, outside the pool, for `KILL`: a timed-out query must be stopped even when its
 * slow siblings hold every pooled connection.
 *
 * Why the error listeners: mysql2 emits 'error' on a pooled connection that dies while idle (server restart,
 * KILL, wait_timeout). It listens once itself to drop the connection from the pool, but a second 'error'
 * on the same connection, with no listener, would crash the process.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import type { Logger } from 'pino';
import type { ConnectionSettings } from './settings.js';
import { describeServer } from './settings.js';
import { settledWithin } from '../sql-common/settle.js';

/** Lookups waiting for a free connection beyond this many fail at once instead of piling up. */
const QUEUE_LIMIT = 1000;
/** How long closing a pool may take before its connections are dropped (a dead server never answers QUIT). */
const END_TIMEOUT_MS = 2000;

/** The core (callback) connection mysql2 emits events on. */
type CoreConnection = { threadId: number | null; on(event: 'error', fn: (err: Error) => void): unknown; destroy(): void };

export interface SharedPool {
  readonly key: string;
  readonly pool: mysql.Pool;
  readonly server: string;
  readonly killer: Killer;
  refs: number;
}

const guarded = new WeakSet<object>();

/** Attach the long-lived error listener to a connection, once. */
export function guardConnection(conn: CoreConnection, log: Logger, server: string): void {
  if (guarded.has(conn)) return;
  guarded.add(conn);
  conn.on('error', (err) => {
    log.warn({ server, thread: conn.threadId, err: err.message || (err as { code?: string }).code }, 'mysql connection lost');
  });
}

export class PoolRegistry {
  private readonly pools = new Map<string, SharedPool>();

  /** Get the pool of database `dbId` with these settings, making it if needed (no connection is made yet). */
  acquire(dbId: string, settings: ConnectionSettings, log: Logger): SharedPool {
    const key = JSON.stringify([dbId, settings]);
    let shared = this.pools.get(key);
    if (shared === undefined) {
      const server = describeServer(settings);
      shared = { key, pool: makePool(settings), server, killer: new Killer(settings, log, server), refs: 0 };
      shared.pool.on('connection', (c) => guardConnection(c as unknown as CoreConnection, log, server));
      this.pools.set(key, shared);
    }
    shared.refs++;
    return shared;
  }

  /** Let go of a pool; the last holder ends it. */
  async release(shared: SharedPool): Promise<void> {
    shared.refs--;
    if (shared.refs > 0 || this.pools.get(shared.key) !== shared) return;
    this.pools.delete(shared.key);
    shared.killer.close();
    await endPool(shared.pool);
  }

  /** Pools currently open (for tests and stats). */
  get size(): number {
    return this.pools.size;
  }
}

/**
 * Sends `KILL` for timed-out queries over one lazily opened connection outside the pool, one statement at a
 * time. The connection is made again after it fails; a failed kill is logged, and the thread then ends when
 * its query does (its socket is closed already).
 */
export class Killer {
  private conn: Promise<mysqlPromise.Connection> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly log: Logger,
    private readonly server: string,
  ) {}

  /** Kill the connection `thread` (and so its running query); never rejects. */
  kill(thread: number): Promise<void> {
    const run = this.chain.then(() => this.killNow(thread));
    this.chain = run;
    return run;
  }

  private async killNow(thread: number, mayRetry = true): Promise<void> {
    if (this.closed) return;
    try {
      const conn = await this.connection();
      await conn.query(`KILL ${thread}`);
      this.log.debug({ server: this.server, thread }, 'killed the timed-out query');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // ER_NO_SUCH_THREAD: the query ended on its own meanwhile, which is what the kill wanted.
      if (code === 'ER_NO_SUCH_THREAD') return;
      const fatal = (err as { fatal?: unknown }).fatal === true || typeof code !== 'string' || !code.startsWith('ER_');
      if (fatal) this.drop();
      // The kill connection sat idle and may have died unnoticed (server restart, KILL, wait_timeout).
      if (fatal && mayRetry) return this.killNow(thread, false);
      this.log.warn({ server: this.server, thread, err: (err as Error).message || code }, 'cannot kill the timed-out query');
    }
  }

  private connection(): Promise<mysqlPromise.Connection> {
    if (this.conn === null) {
      const made = mysqlPromise.createConnection(connectionOptions(this.settings));
      made.then(
        // Only while it is still the current one: an old connection's late error must not drop a new one.
        (c) => c.on('error', () => this.conn === made && this.drop()),
        () => undefined,
      );
      this.conn = made;
    }
    return this.conn;
  }

  private drop(): void {
    const old = this.conn;
    this.conn = null;
    old?.then((c) => c.destroy(), () => undefined);
  }

  close(): void {
    this.closed = true;
    this.drop();
  }
}

function connectionOptions(s: ConnectionSettings): mysql.ConnectionOptions {
  return {
    host: s.host,
    port: s.port,
    socketPath: s.socketPath,
    user: s.user,
    password: s.password,
    database: s.database,
    ssl: s.sslCa === undefined ? undefined : { ca: readFileSync(s.sslCa, 'utf8'), rejectUnauthorized: true },
    connectTimeout: s.connectTimeoutMs,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    // Replies are text: keep exact numbers, dates and JSON as the server spells them.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    jsonStrings: true,
    multipleStatements: false,
    charset: 'utf8mb4',
  };
}

function makePool(s: ConnectionSettings): mysql.Pool {
  return mysql.createPool({
    ...connectionOptions(s),
    connectionLimit: s.poolSize,
    maxIdle: s.poolSize,
    idleTimeout: 60_000,
    waitForConnections: true,
    queueLimit: QUEUE_LIMIT,
    // Lookups read the first row by position; arrays are also what the statement's row parser builds cheapest.
    rowsAsArray: true,
  });
}

async function endPool(pool: mysql.Pool): Promise<void> {
  const ended = new Promise<void>((resolve, reject) => pool.end((err) => (err ? reject(err) : resolve())));
  if (!(await settledWithin(ended, END_TIMEOUT_MS))) {
    // The pool's own bookkeeping is the only list of its connections.
    const core = pool as unknown as { _allConnections?: { toArray?(): CoreConnection[] } };
    for (const c of core._allConnections?.toArray?.() ?? []) c.destroy();
  }
}
