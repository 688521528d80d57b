/**
 * Connections per database: databases that shared connections because their settings were equal let a slow
 * one take them all and starve the fast ones. A database's connections live while some open database holds
 * them (the old and the new database of a reload share them until the old one closes). Each database also
 * keeps one connection of its own, outside the others, for `KILL`: a timed-out query must be stopped even
 * when its slow siblings hold every lookup connection.
 *
 * A lookup goes to an idle connection if there is one, else to a new one while there are fewer than
 * pool-size, else behind the fewest lookups in flight on a connection that is answering (pipelining): one
 * that has answered nothing for STALL_MS is left alone, so a slow query holds up only what was sent before.
 */
import { readFileSync } from 'node:fs';
import mysqlPromise from 'mysql2/promise';
import type { Logger } from 'pino';
import { BackendError } from '../../src/modules/api.js';
import type { ConnectionSettings } from './settings.js';
import { describeServer } from './settings.js';
import { MysqlLink } from './link.js';
import { settledWithin } from '../sql-common/settle.js';

/** Lookups in flight per database beyond this many fail at once instead of piling up. */
const QUEUE_LIMIT = 1000;
/** How long closing may take before the connections are dropped (a dead server never answers QUIT). */
const END_TIMEOUT_MS = 2000;

/** The lookup connections of one database (with its settings), and its kill connection. */
export class SharedPool {
  private readonly links: MysqlLink[] = [];
  /** The CA bundle, read once when the pool is made (as mysql2 read it), not at every connection. */
  private readonly ca: string | undefined;
  /** end() was called: no connection is opened any more (a lookup retried from a dropped one fails). */
  private closed = false;
  /** Stops the queries of timed-out lookups. */
  readonly killer: Killer;
  refs = 0;

  constructor(
    readonly key: string,
    private readonly settings: ConnectionSettings,
    private readonly log: Logger,
    readonly server: string,
  ) {
    this.ca = settings.sslCa === undefined ? undefined : readFileSync(settings.sslCa, 'utf8');
    this.killer = new Killer(settings, this.ca, log, server);
  }

  /**
   * The connection the next lookup goes to (a new one may still be connecting: the lookup waits on it).
   * Throws once the pool is closed: a lookup retried from a connection that end() dropped would otherwise
   * open one that nobody closes.
   */
  pick(): MysqlLink {
    if (this.closed) throw new BackendError('the database is closed');
    for (const link of this.links) if (link.load === 0) return link;
    if (this.links.length < this.settings.poolSize) return this.open();
    // All busy: behind the fewest lookups, on a connection that is answering (not stuck on a slow query).
    const now = Date.now();
    let best: MysqlLink | undefined;
    let moving: MysqlLink | undefined;
    let total = 0;
    for (const link of this.links) {
      total += link.load;
      if (best === undefined || link.load < best.load) best = link;
      if (!link.stalled(now) && (moving === undefined || link.load < moving.load)) moving = link;
    }
    if (total >= QUEUE_LIMIT) throw new BackendError(`more than ${QUEUE_LIMIT} lookups waiting for MySQL at ${this.server}`);
    return moving ?? best!;
  }

  private open(): MysqlLink {
    const link = new MysqlLink(this.settings, this.ca, this.log, this.server, (gone) => {
      const i = this.links.indexOf(gone);
      if (i >= 0) this.links.splice(i, 1);
    });
    this.links.push(link);
    return link;
  }

  /** Drop a connection whose lookup timed out, and stop its query on the server (closing the socket does not). */
  abandon(link: MysqlLink): void {
    const ready = link.status === 'ready';
    const thread = link.threadId;
    link.destroy('a lookup on it timed out', true);
    // Still connecting or logging in: no query was sent, and the server ends the thread when the socket closes.
    if (!ready) return;
    void this.killer.kill(thread);
  }

  /** Say goodbye on every connection (after the lookups in flight), within END_TIMEOUT_MS; then drop what is left. */
  async end(): Promise<void> {
    this.closed = true;
    this.killer.close();
    const links = [...this.links];
    const ended = Promise.all(links.map((l) => l.quit()));
    if (!(await settledWithin(ended, END_TIMEOUT_MS))) {
      for (const l of links) l.destroy('closing');
    }
  }
}

export class PoolRegistry {
  private readonly pools = new Map<string, SharedPool>();

  /** Get the pool of database `dbId` with these settings, making it if needed (no connection is made yet). */
  acquire(dbId: string, settings: ConnectionSettings, log: Logger): SharedPool {
    const key = JSON.stringify([dbId, settings]);
    let shared = this.pools.get(key);
    if (shared === undefined) {
      const server = describeServer(settings);
      shared = new SharedPool(key, settings, log, server);
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
    await shared.end();
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
    /** The pool's CA bundle (ssl-ca, read once by the pool). */
    private readonly ca: string | undefined,
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
      const made = mysqlPromise.createConnection(connectionOptions(this.settings, this.ca));
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

/** The kill connection's options (it runs only `KILL`, so it reads no rows). */
function connectionOptions(s: ConnectionSettings, ca: string | undefined): mysqlPromise.ConnectionOptions {
  return {
    host: s.host,
    port: s.port,
    socketPath: s.socketPath,
    user: s.user,
    password: s.password,
    database: s.database,
    ssl: ca === undefined ? undefined : { ca, rejectUnauthorized: true },
    connectTimeout: s.connectTimeoutMs,
    multipleStatements: false,
    charset: 'utf8mb4',
  };
}
