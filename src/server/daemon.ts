/**
 * The running daemon: listeners, connections, the current runtime, and the stop and reload sequences.
 * It knows nothing of the command line; src/cli/smapd.ts drives it.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ServerDecl, SmapdConfig } from '../config/types.js';
import type { ConnInfo } from '../modules/api.js';
import { Connection, type ConnectionContext } from './connection.js';
import { connInfoOf } from './conninfo.js';
import { openListener, type OpenListener } from './listeners.js';
import { Runtime } from './runtime.js';
import { shareReads, type ChunkSink } from './shared-read.js';
import { createStats, type ServerStats } from './stats.js';

export class Smapd {
  readonly stats: ServerStats = createStats();
  private runtime: Runtime;
  private listeners: OpenListener[] = [];
  private readonly connections = new Set<Connection>();
  private readonly perServer = new Map<string, number>();
  private stopping: Promise<void> | null = null;
  /** The shared read buffer could not be used for some socket; said once. */
  private warnedSlowReads = false;

  /**
   * The `server` statements of the config the daemon started with: its listeners keep them until a restart,
   * and so do connections a worker takes over, whatever a reload says.
   */
  private readonly servers: readonly ServerDecl[];

  private constructor(
    runtime: Runtime,
    readonly log: Logger,
    servers: readonly ServerDecl[],
  ) {
    this.runtime = runtime;
    this.servers = servers;
  }

  /**
   * Load modules, databases and rules; throws ConfigErrors. Does not listen yet. `servers`: those of the
   * config the daemon started with, when `config` is a later one (a worker started after a reload).
   */
  static async create(config: SmapdConfig, log: Logger, servers: readonly ServerDecl[] = config.servers): Promise<Smapd> {
    return new Smapd(await Runtime.create(config, log), log, servers);
  }

  get config(): SmapdConfig {
    return this.runtime.config;
  }

  get currentRuntime(): Runtime {
    return this.runtime;
  }

  /** True once stop() was called; health checks then fail so a balancer stops sending. */
  get isStopping(): boolean {
    return this.stopping !== null;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** The bound addresses, in server order (real ports when the config said 0). */
  get addresses(): ReadonlyMap<string, string> {
    return new Map(this.listeners.map((l) => [l.decl.id, l.address]));
  }

  /** Open every configured listener; on any failure close the ones opened and throw. */
  async listen(): Promise<void> {
    for (const decl of this.runtime.config.servers) {
      try {
        const l = await openListener(decl, (socket, d) => this.accept(socket, d));
        this.listeners.push(l);
        this.log.info({ server: decl.id, address: l.address }, 'listening');
      } catch (err) {
        await Promise.all(this.listeners.map((l) => l.close()));
        this.listeners = [];
        throw err;
      }
    }
  }

  /**
   * Take over a socket another process accepted (a worker, from the primary). Resolves when the connection
   * ends; undefined when it was refused at once.
   */
  adopt(socket: net.Socket, serverId: string): Promise<void> | undefined {
    const decl = this.servers.find((d) => d.id === serverId);
    if (decl === undefined) {
      this.log.error({ server: serverId }, 'connection for a server this worker does not know; closing it');
      socket.destroy();
      return undefined;
    }
    return this.accept(socket, decl)?.finished;
  }

  /** Serve one already-connected stream (inetd mode). Resolves when it closes. */
  serveStream(stream: Duplex, info: ConnInfo): Promise<void> {
    const conn = this.attach(stream, info, undefined);
    return conn.finished;
  }

  /** Replace the runtime with one built from `config`; open connections finish on the old one. */
  async reload(config: SmapdConfig): Promise<void> {
    const next = await Runtime.create(config, this.log);
    const was = this.runtime.config.servers.map((d) => `${d.id}=${d.url.text}`).join(' ');
    const now = config.servers.map((d) => `${d.id}=${d.url.text}`).join(' ');
    if (was !== now) this.log.warn('server statements changed: listeners are kept as they are until a restart');
    const old = this.runtime;
    this.runtime = next;
    await old.retire();
  }

  /** Stop accepting, let requests in flight finish, force-close after the shutdown timeout. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const closed = Promise.all(this.listeners.map((l) => l.close()));
    // Close each connection as soon as its last answer is written, without waiting for the client's close.
    for (const c of this.connections) c.endGracefully(0);
    const all = Promise.all([...this.connections].map((c) => c.finished));
    const timeout = this.runtime.config.shutdownTimeout;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, timeout, 'timeout')));
    if ((await Promise.race([all, expired])) === 'timeout') {
      this.log.warn({ open: this.connections.size }, 'shutdown timeout: closing remaining connections');
      for (const c of this.connections) c.destroy();
      await all;
    }
    clearTimeout(timer);
    await closed;
    await this.runtime.retire();
  }

  private accept(socket: net.Socket, decl: ServerDecl): Connection | undefined {
    const cfg = this.runtime.config;
    const n = this.perServer.get(decl.id) ?? 0;
    if (this.stopping !== null) {
      socket.destroy();
      return undefined;
    }
    if ((cfg.maxConnections > 0 && this.connections.size >= cfg.maxConnections) || (decl.maxConnections > 0 && n >= decl.maxConnections)) {
      this.stats.connectionsRejected++;
      this.log.warn({ server: decl.id, open: this.connections.size }, 'too many connections; closing new one');
      socket.destroy();
      return undefined;
    }
    socket.setNoDelay(true);
    this.perServer.set(decl.id, n + 1);
    const moved = shareReads(socket);
    let conn: Connection;
    if (typeof moved !== 'string') {
      conn = this.attach(moved.socket, connInfoOf(moved.socket, decl), decl, moved.sink);
    } else {
      if (!this.warnedSlowReads) {
        this.warnedSlowReads = true;
        this.log.warn({ reason: moved }, 'cannot use the shared read buffer; connections read with a new buffer per read (slower)');
      }
      conn = this.attach(socket, connInfoOf(socket, decl), decl);
      // A socket handed over by the primary may have been paused at accept.
      socket.resume();
    }
    void conn.finished.then(() => this.perServer.set(decl.id, (this.perServer.get(decl.id) ?? 1) - 1));
    return conn;
  }

  private attach(stream: Duplex, info: ConnInfo, decl: ServerDecl | undefined, sink?: ChunkSink): Connection {
    const runtime = this.runtime;
    const cfg = runtime.config;
    runtime.acquire();
    const ctx: ConnectionContext = {
      dispatch: (map, key, conn) => runtime.dispatcher.dispatch(map, key, conn),
      maxRequestSize: cfg.maxRequestSize,
      maxReplySize: cfg.maxReplySize,
      idleTimeout: decl?.idleTimeout ?? cfg.idleTimeout,
      log: runtime.serverLog,
      stats: this.stats,
      trace: runtime.tracer,
      queryLog: runtime.queryLog,
    };
    const conn = new Connection(stream, info, ctx, sink);
    this.connections.add(conn);
    this.stats.connectionsTotal++;
    this.stats.connectionsOpen++;
    void conn.finished.then(() => {
      this.connections.delete(conn);
      this.stats.connectionsOpen--;
      runtime.release();
    });
    return conn;
  }
}
