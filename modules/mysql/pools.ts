/**
 * Connection pools, shared by every database with the same connection settings (GNU Smap let databases
 * without connection options share the module's connection; here any equal settings share). A pool lives
 * while some open database holds it.
 *
 * Why the error listeners: mysql2 emits 'error' on a pooled connection that dies while idle (server restart,
 * KILL, wait_timeout). It listens once itself to drop the connection from the pool, but a second 'error'
 * on the same connection, with no listener, would crash the process.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import { SharedResources } from '../../src/modules/api.js';
import type { ConnectionSettings } from './settings.js';
import { describeServer } from './settings.js';

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
  private readonly pools = new SharedResources<SharedPool, { settings: ConnectionSettings; log: Logger }>({
    open(key, { settings, log }) {
      const shared: SharedPool = { key, pool: makePool(settings), server: describeServer(settings) };
      shared.pool.on('connection', (c) => guardConnection(c as unknown as CoreConnection, log, shared.server));
      return shared;
    },
    close: (shared) => endPool(shared.pool),
  });

  /** Get the pool for these settings, making it if needed (no connection is made until first use). */
  acquire(settings: ConnectionSettings, log: Logger): Promise<SharedPool> {
    return this.pools.acquire(JSON.stringify(settings), { settings, log });
  }

  /** Let go of a pool; the last holder ends it. */
  async release(shared: SharedPool): Promise<void> {
    await this.pools.release(shared.key);
  }

  /** Pools currently open (for tests and stats). */
  get size(): number {
    return this.pools.size;
  }
}

function makePool(s: ConnectionSettings): mysql.Pool {
  return mysql.createPool({
    host: s.host,
    port: s.port,
    socketPath: s.socketPath,
    user: s.user,
    password: s.password,
    database: s.database,
    ssl: s.sslCa === undefined ? undefined : { ca: readFileSync(s.sslCa, 'utf8'), rejectUnauthorized: true },
    connectionLimit: s.poolSize,
    maxIdle: s.poolSize,
    idleTimeout: 60_000,
    waitForConnections: true,
    queueLimit: QUEUE_LIMIT,
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
  });
}

async function endPool(pool: mysql.Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(resolve, END_TIMEOUT_MS, 'timeout');
  });
  const ended = pool.end().then(
    () => 'ended' as const,
    () => 'ended' as const,
  );
  const how = await Promise.race([ended, gaveUp]);
  clearTimeout(timer);
  if (how === 'timeout') {
    // The pool's own bookkeeping is the only list of its connections.
    const core = (pool as unknown as { pool: { _allConnections?: { toArray?(): CoreConnection[] } } }).pool;
    for (const c of core._allConnections?.toArray?.() ?? []) c.destroy();
  }
}
