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
import { chooseVictim } from './eviction.js';
import { OpenCounts, type LimitHit } from './limits.js';
import { openListener, type OpenListener } from './listeners.js';
import { OpenList } from './open-list.js';
import { RateLimitedWarning } from './rate-log.js';
import { Runtime } from './runtime.js';
import { shareReads, type ChunkSink } from './shared-read.js';
import { createStats, type ServerStats } from './stats.js';

export class Smapd {
  readonly stats: ServerStats = createStats();
  private runtime: Runtime;
  private listeners: OpenListener[] = [];
  /** Open connections; those of listeners are `seated` (counted against the limits) until they close or are evicted. */
  private readonly connections = new OpenList<Connection>();
  private readonly counts = new OpenCounts();
  private readonly refusedLog: RateLimitedWarning;
  private readonly evictedLog: RateLimitedWarning;
  private readonly timeoutLog: RateLimitedWarning;
  private stopping: Promise<void> | null = null;
  /** The connection contexts of the current runtime, by server (undefined: inetd). */
  private contexts: { runtime: Runtime | undefined; byServer: Map<ServerDecl | undefined, ConnectionContext> } = {
    runtime: undefined,
    byServer: new Map(),
  };
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
    this.refusedLog = new RateLimitedWarning(log, 'too many connections; closing new one');
    this.evictedLog = new RateLimitedWarning(log, 'connection limit reached; closed an idle or stalled connection to make room');
    this.timeoutLog = new RateLimitedWarning(log, 'request timeout; connection closed');
    this.servers = servers;
  }

  /**
   * Load modules, databases and rules; throws ConfigErrors. Does not listen yet. `servers`: those of the
   * config the daemon started with, when `config` is a later one (a worker started after a reload).
   */
  static async create(config: SmapdConfig, log: Logger, servers: readonly ServerDecl[] = config.servers): Promise<Smapd> {
    return new Smapd(await Runtime.start(config, log), log, servers);
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
        const l = await openListener(decl, (socket, d, sink) => this.accept(socket, d, undefined, sink));
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
   * ends; undefined when it was refused at once. `makeRoom`: the primary found this limit reached, and this
   * worker is to close one of its own idle or stalled connections within the limit's scope for it.
   */
  adopt(socket: net.Socket, serverId: string, makeRoom?: LimitHit): Promise<void> | undefined {
    const decl = this.servers.find((d) => d.id === serverId);
    if (decl === undefined) {
      this.log.error({ server: serverId }, 'connection for a server this worker does not know; closing it');
      socket.destroy();
      return undefined;
    }
    return this.accept(socket, decl, makeRoom)?.finished;
  }

  /** Serve one already-connected stream (inetd mode). Resolves when it closes. */
  serveStream(stream: Duplex, info: ConnInfo): Promise<void> {
    const conn = this.attach(stream, info, undefined);
    return conn.finished;
  }

  /** Replace the runtime with one built from `config`; open connections finish on the old one. */
  async reload(config: SmapdConfig): Promise<void> {
    const next = await Runtime.start(config, this.log);
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
    const open = this.connections.nodes();
    for (const n of open) n.item.endGracefully(0);
    const all = Promise.all(open.map((n) => n.item.finished));
    const timeout = this.runtime.config.shutdownTimeout;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, timeout, 'timeout')));
    if ((await Promise.race([all, expired])) === 'timeout') {
      this.log.warn({ open: this.connections.size }, 'shutdown timeout: closing remaining connections');
      for (const n of open) n.item.destroy();
      await all;
    }
    clearTimeout(timer);
    await closed;
    for (const l of [this.refusedLog, this.evictedLog, this.timeoutLog]) l.close();
    await this.runtime.retire();
  }

  /**
   * `sink`: the socket reads into the shared buffer already (a listener's, direct-accept.ts); otherwise it
   * is moved there here, if it can be.
   */
  private accept(socket: net.Socket, decl: ServerDecl, makeRoom?: LimitHit, sink?: ChunkSink): Connection | undefined {
    if (this.stopping !== null) {
      socket.destroy();
      return undefined;
    }
    // Read the addresses once, before any move: the limits count the client under its source address.
    const info = connInfoOf(socket, decl);
    const address = info.src;
    if (!this.admit(decl, address, makeRoom)) {
      socket.destroy();
      return undefined;
    }
    socket.setNoDelay(true);
    const conn = sink !== undefined ? this.attach(socket, info, decl, sink) : this.attachMoved(socket, info, decl);
    const seat = conn.openNode!;
    seat.server = decl.id;
    seat.address = address;
    seat.seated = true;
    this.counts.add(decl.id, address);
    return conn;
  }

  /** Serve a socket a worker was handed (or a listener's, on a Node without direct accept), reading into the shared buffer if it can. */
  private attachMoved(socket: net.Socket, info: ConnInfo, decl: ServerDecl): Connection {
    const moved = shareReads(socket);
    if (typeof moved !== 'string') return this.attach(moved.socket, info, decl, moved.sink);
    if (!this.warnedSlowReads) {
      this.warnedSlowReads = true;
      this.log.warn({ reason: moved }, 'cannot use the shared read buffer; connections read with a new buffer per read (slower)');
    }
    const conn = this.attach(socket, info, decl);
    // A socket handed over by the primary may have been paused at accept.
    socket.resume();
    return conn;
  }

  /**
   * Whether a new connection may be served: it fits every limit, or (`when-full evict`) an idle or stalled
   * connection within the scope of the limit it hits is closed to make room for it. Refusals are counted
   * and logged once per interval.
   */
  private admit(decl: ServerDecl, address: string, makeRoom: LimitHit | undefined): boolean {
    const cfg = this.runtime.config;
    if (makeRoom !== undefined && !this.evictFor(makeRoom, decl, address)) {
      this.stats.connectionsRejected++;
      this.refusedLog.note({ server: decl.id, limit: makeRoom, client: address || 'unix' });
      return false;
    }
    // Each eviction lowers the count of the limit hit, so three rounds see each of the three limits.
    for (let round = 0; ; round++) {
      const hit = this.counts.limitHit(cfg, decl, address);
      if (hit === undefined) return true;
      if (round === 3 || cfg.whenFull !== 'evict' || !this.evictFor(hit, decl, address)) {
        this.stats.connectionsRejected++;
        this.refusedLog.note({ server: decl.id, limit: hit, client: address || 'unix', open: this.counts.total });
        return false;
      }
    }
  }

  /** Close one idle or stalled connection within the scope of `hit`; false when there is none. */
  private evictFor(hit: LimitHit, decl: ServerDecl, address: string): boolean {
    const inScope = (seat: { server: string; address: string }) =>
      hit === 'max-connections-per-address' ? seat.address === address : hit === 'server max-connections' ? seat.server === decl.id : true;
    const candidates: Array<{ conn: Connection; address: string; evictable: boolean; lastProgress: number }> = [];
    for (const seat of this.connections.nodes()) {
      const conn = seat.item;
      if (seat.seated && inScope(seat)) candidates.push({ conn, address: seat.address, evictable: conn.evictable, lastProgress: conn.lastProgress });
    }
    const victim = chooseVictim(candidates);
    if (victim === undefined) return false;
    this.unseat(victim.conn);
    victim.conn.evict();
    this.stats.connectionsEvicted++;
    this.evictedLog.note({ server: decl.id, limit: hit, evicted: victim.address || 'unix', client: address || 'unix' });
    return true;
  }

  /** Stop counting a connection against the limits (when it closes, or at once when it is evicted). */
  private unseat(conn: Connection): void {
    const seat = conn.openNode;
    if (seat === undefined || !seat.seated) return;
    seat.seated = false;
    this.counts.add(seat.server, seat.address, -1);
  }

  private attach(stream: Duplex, info: ConnInfo, decl: ServerDecl | undefined, sink?: ChunkSink): Connection {
    const runtime = this.runtime;
    runtime.acquire();
    const conn = new Connection(stream, info, this.contextFor(runtime, decl), sink);
    conn.openNode = this.connections.add(conn);
    this.stats.connectionsTotal++;
    this.stats.connectionsOpen++;
    return conn;
  }

  /** A connection of `runtime` closed: it no longer counts, nor holds its runtime. */
  private closed(conn: Connection, runtime: Runtime): void {
    this.stats.connectionsOpen--;
    this.unseat(conn);
    if (conn.openNode !== undefined) this.connections.remove(conn.openNode);
    runtime.release();
  }

  /**
   * What the connections of `decl` on `runtime` share; made once for each (runtime, server), not per
   * connection. `dispatch` and `closed` stay on the runtime they were made for, whatever a reload does.
   */
  private contextFor(runtime: Runtime, decl: ServerDecl | undefined): ConnectionContext {
    if (this.contexts.runtime !== runtime) this.contexts = { runtime, byServer: new Map() };
    let ctx = this.contexts.byServer.get(decl);
    if (ctx !== undefined) return ctx;
    const cfg = runtime.config;
    ctx = {
      dispatch: (map, key, conn) => runtime.dispatcher.dispatch(map, key, conn),
      maxRequestSize: cfg.maxRequestSize,
      maxReplySize: cfg.maxReplySize,
      idleTimeout: decl?.idleTimeout ?? cfg.idleTimeout,
      requestTimeout: decl?.requestTimeout ?? cfg.requestTimeout,
      maxReplyBuffer: cfg.maxReplyBuffer,
      timeoutLog: this.timeoutLog,
      log: runtime.serverLog,
      stats: this.stats,
      trace: runtime.tracer,
      queryLog: runtime.queryLog,
      closed: (conn) => this.closed(conn, runtime),
    };
    this.contexts.byServer.set(decl, ctx);
    return ctx;
  }
}
