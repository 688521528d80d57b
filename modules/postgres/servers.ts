/**
 * The servers of one database and their connections: up to `pool-size` connections per server (host) of
 * the `host=` list, tried in order as libpq tries its host list, so a replica takes over while the primary
 * is down. A server that failed to connect is passed over for a short while, then tried again first, so
 * lookups go back to the primary by themselves once it is back. Every database has connections of its own:
 * a slow database can hold only its own.
 *
 * A lookup is pipelined on the busiest connection that is moving (the last lookup it answered took less
 * than STALL_MS, and its oldest lookup was sent less than STALL_MS ago) and not PIPELINE_DEPTH deep; else it goes to an idle connection; else a new one is opened, up
 * to pool-size; past that it is pipelined on the least busy. So a slow query holds up other lookups for at
 * most STALL_MS while connections remain (link.ts then sends those behind it again elsewhere, when a lookup
 * asked now would not come back to it), and a busy database makes few connections do much (each connection in use costs a
 * write and a read per event-loop turn, whatever it carries); the connections left idle close after a while.
 */
import type { Logger } from 'pino';
import { BackendError, errorDetail } from '../../src/modules/api.js';
import { Link, STALL_MS, type LinkConfig } from './link.js';
import type { Endpoint, PostgresSettings } from './settings.js';

/** How long a server that failed to connect is passed over while another one is tried first. */
export const DOWN_MS = 2000;
/** A connection with nothing to do for this long is closed. */
const IDLE_TIMEOUT_MS = 60_000;
/**
 * Lookups in flight on a connection before another is opened: 16 lookups in flight went through 2
 * connections for less CPU each than through 4 or 8 (docs/performance.md).
 */
export const PIPELINE_DEPTH = 8;

/** The statement every connection of a database prepares. */
export interface Statement {
  readonly name: string;
  readonly sql: string;
}

interface Waiter {
  resolve(link: Link): void;
  reject(err: unknown): void;
}

interface Server {
  readonly endpoint: Endpoint;
  /** Open connections (ready or closing; only the ready ones count toward pool-size). */
  readonly links: Link[];
  /** Connections being opened. */
  opening: number;
  /** Lookups waiting for one of the connections being opened (every slot is taken by a usable one or one being opened). */
  readonly waiting: Waiter[];
  /** Whether new connections ask for TLS. */
  tls: boolean;
  /** sslmode=prefer: TLS is asked for, but a server without it is fine (plain text from then on). */
  readonly plainIfNoTls: boolean;
  /** 0 while the server answers; after a failed connect, when it may be tried again. */
  downUntil: number;
  /** A lookup is trying this failed server again; the others do not wait on it meanwhile. */
  probing: boolean;
  lastError: string;
}

export class Servers {
  private readonly servers: Server[];
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly settings: PostgresSettings,
    private readonly statement: Statement,
    private readonly timeoutMs: number,
    private readonly log: Logger,
  ) {
    const mode = settings.ssl.mode;
    const tls = mode !== 'disable' && mode !== 'allow';
    this.servers = settings.endpoints.map((endpoint) => ({
      endpoint,
      links: [],
      opening: 0,
      waiting: [],
      // As libpq: never TLS over a unix socket.
      tls: tls && !endpoint.socket,
      plainIfNoTls: mode === 'prefer',
      downUntil: 0,
      probing: false,
      lastError: '',
    }));
    this.sweeper = setInterval(() => this.closeIdle(), IDLE_TIMEOUT_MS / 4);
    this.sweeper.unref();
  }

  /** Every server, for messages: `127.0.0.1:5432, 10.0.0.2:5432`. */
  get label(): string {
    return this.servers.map((s) => s.endpoint.label).join(', ');
  }

  /**
   * The connection a lookup goes to now, without waiting, or null when getting one needs waiting (a new
   * connection, a server to try again): then `acquire()`.
   */
  pick(): Link | null {
    if (this.closed) return null;
    for (const s of this.servers) {
      if (s.downUntil === 0) return this.ready(s);
      // A server due for another try comes first, and trying it is acquire()'s business.
      if (s.downUntil <= Date.now() && !s.probing) return null;
    }
    return null;
  }

  /**
   * A connection from the first server that gives one. A server that failed is passed over for DOWN_MS;
   * then one lookup at a time tries it again (a probe), while the others go on to the next server: a server
   * that swallows packets would otherwise hold every lookup for connect_timeout at each retry. When every
   * server has failed, each is tried by one lookup at a time, and the others answer at once with the last
   * reason.
   */
  async acquire(): Promise<Link> {
    if (this.closed) throw new BackendError('the database is closed');
    const now = Date.now();
    let order = this.servers.filter((s) => s.downUntil === 0 || (s.downUntil <= now && !s.probing));
    if (order.length === 0) order = this.servers.filter((s) => !s.probing);
    let last: unknown;
    for (const s of order) {
      const probe = s.downUntil !== 0;
      if (probe) {
        if (s.probing) continue;
        s.probing = true;
      }
      try {
        const link = await this.linkOf(s);
        if (s.downUntil !== 0) this.log.info({ server: s.endpoint.label }, 'postgres server answers again');
        s.downUntil = 0;
        return link;
      } catch (err) {
        last = err;
        s.lastError = errorDetail(err);
        s.downUntil = Date.now() + DOWN_MS;
        if (this.servers.length > 1) this.log.warn({ server: s.endpoint.label, err: s.lastError }, 'postgres server unreachable; trying the next one');
      } finally {
        if (probe) s.probing = false;
      }
    }
    const why = last !== undefined ? errorDetail(last) : this.servers.map((s) => s.lastError).filter((e) => e !== '').join('; ') || 'every server is being retried';
    throw new BackendError(`no connection to PostgreSQL at ${this.label}: ${why}`, { cause: last });
  }

  /**
   * The busiest connection that moves and is not PIPELINE_DEPTH deep (lookups pack onto few connections, and
   * the others fall idle); else an idle one; else null while another may be opened; else the least busy one
   * that moves, or one stuck when nothing else will come (null: wait for one being opened).
   */
  private ready(s: Server): Link | null {
    let packed: Link | null = null;
    let idle: Link | null = null;
    let least: Link | null = null;
    let leastStuck: Link | null = null;
    const now = Date.now();
    for (const l of s.links) {
      if (!l.usable) continue;
      const n = l.inFlight;
      if (n === 0) {
        idle ??= l;
        continue;
      }
      if (now - l.headSince > STALL_MS || !l.lastFast) {
        if (leastStuck === null || n < leastStuck.inFlight) leastStuck = l;
        continue;
      }
      if (least === null || n < least.inFlight) least = l;
      if (n < PIPELINE_DEPTH && (packed === null || n > packed.inFlight)) packed = l;
    }
    if (packed !== null) return packed;
    if (idle !== null) return idle;
    if (this.hasRoom(s)) return null;
    if (least !== null) return least;
    // Every open connection is stuck: wait for one being opened, if any, else queue behind a stuck one.
    return s.opening > 0 ? null : leastStuck;
  }

  /**
   * Whether another connection may be opened to `s`. Connections closing do not count: they take no lookup,
   * and a lookup waiting for them to go would wait for nothing (only an open ends a wait).
   */
  private hasRoom(s: Server): boolean {
    let n = s.opening;
    for (const l of s.links) if (l.usable) n++;
    return n < this.settings.poolSize;
  }

  private linkOf(s: Server): Promise<Link> {
    const l = this.ready(s);
    if (l !== null) return Promise.resolve(l);
    if (this.hasRoom(s)) return this.open(s);
    return new Promise((resolve, reject) => s.waiting.push({ resolve, reject }));
  }

  private async open(s: Server): Promise<Link> {
    const cfg: LinkConfig = {
      endpoint: s.endpoint,
      settings: this.settings,
      tls: s.tls,
      plainIfNoTls: s.plainIfNoTls,
      statement: this.statement,
      timeoutMs: this.timeoutMs,
      log: this.log,
      // While closing, lookups in flight finish where they are.
      elsewhere: (from) => !this.closed && this.pick() !== from,
    };
    s.opening++;
    let link: Link;
    try {
      link = await Link.open(cfg);
    } catch (err) {
      s.opening--;
      // The last connection being opened failed too: the lookups waiting for one go on to the next server.
      if (s.opening === 0) for (const w of s.waiting.splice(0)) w.reject(err);
      throw err;
    }
    s.opening--;
    if (this.closed) {
      void link.close();
      throw new BackendError('the database is closed');
    }
    if (s.tls && !link.encrypted) {
      // sslmode=prefer and a server without TLS: go on in plain text, as libpq does, without asking again.
      this.log.info({ server: s.endpoint.label }, 'postgres server has no TLS; sslmode=prefer goes on without');
      s.tls = false;
    }
    s.links.push(link);
    link.onGone = (why) => {
      const i = s.links.indexOf(link);
      if (i >= 0) s.links.splice(i, 1);
      this.log.debug({ server: s.endpoint.label, err: why }, 'postgres connection gone');
    };
    // The waiting lookups share out over this connection and those still being opened.
    const share = Math.ceil(s.waiting.length / (s.opening + 1));
    for (const w of s.waiting.splice(0, share)) w.resolve(link);
    return link;
  }

  private closeIdle(): void {
    const before = Date.now() - IDLE_TIMEOUT_MS;
    for (const s of this.servers) for (const l of s.links) if (l.usable && l.inFlight === 0 && l.idleSince < before) void l.close();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const links: Link[] = [];
    for (const s of this.servers) {
      links.push(...s.links);
      for (const w of s.waiting.splice(0)) w.reject(new BackendError('the database is closed'));
    }
    // Each close is bounded by the connection itself (CLOSE_WAIT_MS).
    await Promise.all(links.map((l) => l.close()));
  }
}
