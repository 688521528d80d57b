/**
 * The servers of one database and their connection pools: a pool per server (host) of the `host=` list,
 * tried in order as libpq tries its host list, so a replica takes over while the primary is down. A server
 * that failed to connect is passed over for a short while, then tried again first, so lookups go back to
 * the primary by themselves once it is back. Every database has pools of its own: a slow database can hold
 * only its own connections.
 *
 * Why the error listeners: pg emits 'error' on a client whose connection dies (server restart,
 * pg_terminate_backend). The pool listens while the client is idle, but not while a lookup holds it, and an
 * 'error' with no listener would crash the process.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { Logger } from 'pino';
import { BackendError } from '../../src/modules/api.js';
import { errorText } from '../sql-common/replies.js';
import type { Endpoint, PostgresSettings } from './settings.js';
import { settledWithin } from '../sql-common/settle.js';

/** Column values as the server writes them (dates, numerics, int8 keep their exact text). */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** How long a server that failed to connect is passed over while another one is tried first. */
export const DOWN_MS = 2000;
/** How long closing a pool may take before its connections are dropped (a dead server never answers). */
const END_TIMEOUT_MS = 2000;
const IDLE_TIMEOUT_MS = 60_000;

interface Server {
  readonly endpoint: Endpoint;
  pool: pg.Pool | null;
  /** Whether the pool's connections ask for TLS. */
  tls: boolean;
  /** sslmode=prefer: TLS is asked for, but a server without it is fine (plain text from then on). */
  readonly plainIfNoTls: boolean;
  /** 0 while the server answers; after a failed connect, when it may be tried again. */
  downUntil: number;
  /** A lookup is trying this failed server again; the others do not wait on it meanwhile. */
  probing: boolean;
  lastError: string;
}

/** A connection lent to one lookup, and the server it belongs to. */
export interface Lease {
  readonly client: pg.PoolClient;
  readonly server: Endpoint;
}

export class Servers {
  private readonly servers: Server[];
  private closed = false;

  constructor(
    private readonly settings: PostgresSettings,
    private readonly log: Logger,
  ) {
    const mode = settings.ssl.mode;
    const tls = mode !== 'disable' && mode !== 'allow';
    this.servers = settings.endpoints.map((endpoint) => ({
      endpoint,
      pool: null,
      // As libpq: never TLS over a unix socket.
      tls: tls && !endpoint.socket,
      plainIfNoTls: mode === 'prefer',
      downUntil: 0,
      probing: false,
      lastError: '',
    }));
  }

  /** Every server, for messages: `127.0.0.1:5432, 10.0.0.2:5432`. */
  get label(): string {
    return this.servers.map((s) => s.endpoint.label).join(', ');
  }

  /**
   * A connection from the first server that gives one. A server that failed is passed over for DOWN_MS;
   * then one lookup at a time tries it again (a probe), while the others go on to the next server: a server
   * that swallows packets would otherwise hold every lookup for connect_timeout at each retry. When every
   * server has failed, each is tried by one lookup at a time, and the others answer at once with the last
   * reason.
   */
  async acquire(): Promise<Lease> {
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
        const client = await this.connect(s);
        if (s.downUntil !== 0) this.log.info({ server: s.endpoint.label }, 'postgres server answers again');
        s.downUntil = 0;
        return { client, server: s.endpoint };
      } catch (err) {
        last = err;
        s.lastError = errorText(err);
        s.downUntil = Date.now() + DOWN_MS;
        if (this.servers.length > 1) this.log.warn({ server: s.endpoint.label, err: s.lastError }, 'postgres server unreachable; trying the next one');
      } finally {
        if (probe) s.probing = false;
      }
    }
    const why = last !== undefined ? errorText(last) : this.servers.map((s) => s.lastError).filter((e) => e !== '').join('; ') || 'every server is being retried';
    throw new BackendError(`no connection to PostgreSQL at ${this.label}: ${why}`, { cause: last });
  }

  private async connect(s: Server): Promise<pg.PoolClient> {
    try {
      return await this.poolOf(s).connect();
    } catch (err) {
      if (!s.tls || !s.plainIfNoTls || !/does not support SSL/i.test(errorText(err))) throw err;
      // sslmode=prefer and a server without TLS: go on in plain text, as libpq does.
      this.log.info({ server: s.endpoint.label }, 'postgres server has no TLS; sslmode=prefer goes on without');
      const old = s.pool;
      s.tls = false;
      s.pool = null;
      if (old !== null) void endPool(old);
      return await this.poolOf(s).connect();
    }
  }

  private poolOf(s: Server): pg.Pool {
    if (s.pool !== null) return s.pool;
    const st = this.settings;
    const e = s.endpoint;
    const connectTimeoutMs = st.connectTimeoutMs;
    // The connect timeout goes to the client only: on the pool it would also bound the wait for a busy
    // connection, and a busy server is no reason to fail over. The lookup's timeout bounds that wait.
    class TimedClient extends pg.Client {
      constructor(config?: pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis: connectTimeoutMs });
      }
    }
    const pool = new pg.Pool({
      Client: TimedClient as unknown as new () => pg.ClientBase,
      host: e.address,
      port: e.port,
      user: st.user,
      password: st.password,
      database: st.database,
      options: st.options,
      application_name: 'smapd',
      // On the connection rather than on each query: pg copies a query's config, property by property.
      types: TEXT_TYPES,
      ssl: s.tls ? tlsOptions(st, e) : false,
      max: st.poolSize,
      idleTimeoutMillis: IDLE_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    const log = this.log;
    pool.on('error', (err) => log.warn({ server: e.label, err: errorText(err) }, 'idle postgres connection lost'));
    pool.on('connect', (client) => client.on('error', (err) => log.debug({ server: e.label, err: errorText(err) }, 'postgres connection lost')));
    s.pool = pool;
    return pool;
  }

  /**
   * Ask the server to stop the query running on `client` (PostgreSQL's CancelRequest, over a connection of
   * its own): closing the client's socket alone would leave the query running. Never rejects.
   */
  cancel(lease: Lease): void {
    const ids = lease.client as unknown as { processID: number | null; secretKey: number | null };
    if (typeof ids.processID !== 'number' || typeof ids.secretKey !== 'number') {
      this.log.warn({ server: lease.server.label }, 'cannot cancel the timed-out query: no backend key');
      return;
    }
    sendCancel(lease.server, ids.processID, ids.secretKey, this.settings.connectTimeoutMs || 5000).then(
      () => this.log.debug({ server: lease.server.label, pid: ids.processID }, 'cancelled the timed-out query'),
      (err: unknown) => this.log.warn({ server: lease.server.label, pid: ids.processID, err: errorText(err) }, 'cannot cancel the timed-out query'),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = this.servers.map((s) => s.pool).filter((p): p is pg.Pool => p !== null);
    for (const s of this.servers) s.pool = null;
    await Promise.all(pools.map(endPool));
  }
}

function tlsOptions(st: PostgresSettings, e: Endpoint): ConnectionOptions {
  const ssl = st.ssl;
  const opts: ConnectionOptions = {};
  if (ssl.cert !== undefined && ssl.key !== undefined) {
    opts.cert = readFileSync(ssl.cert);
    opts.key = readFileSync(ssl.key);
  }
  if (ssl.crl !== undefined) opts.crl = readFileSync(ssl.crl);
  if (ssl.rootCert !== undefined && ssl.rootCert !== 'system') opts.ca = readFileSync(ssl.rootCert);
  // libpq: prefer encrypts without checking; require checks the CA only when a root certificate is there.
  const verify = ssl.mode === 'verify-ca' || ssl.mode === 'verify-full' || (ssl.mode === 'require' && ssl.rootCert !== undefined);
  opts.rejectUnauthorized = verify;
  if (verify && ssl.mode !== 'verify-full') opts.checkServerIdentity = () => undefined;
  // With hostaddr the socket goes to an address, but the certificate must name the host.
  if (ssl.mode === 'verify-full' && e.host !== e.address && net.isIP(e.host) === 0) opts.servername = e.host;
  return opts;
}

/** PostgreSQL's CancelRequest: length 16, code 80877102, backend pid, secret key; the server then hangs up. */
function sendCancel(e: Endpoint, pid: number, secret: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(80877102, 4);
    packet.writeInt32BE(pid, 8);
    packet.writeInt32BE(secret, 12);
    const sock = e.socket ? net.connect({ path: `${e.address}/.s.PGSQL.${e.port}` }) : net.connect({ host: e.address, port: e.port });
    const timer = setTimeout(() => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', () => sock.end(packet));
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve();
    });
    sock.resume();
  });
}

async function endPool(pool: pg.Pool): Promise<void> {
  if (!(await settledWithin(pool.end(), END_TIMEOUT_MS))) {
    // pg-pool keeps its clients in `_clients`; a client whose server never answers the Terminate is dropped.
    const clients = (pool as unknown as { _clients?: { connection?: { stream?: net.Socket } }[] })._clients ?? [];
    for (const c of clients) c.connection?.stream?.destroy();
  }
}
