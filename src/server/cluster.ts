/**
 * `workers N`: one primary process owns the listeners (so unix socket mode, owner and clean-up happen once)
 * and hands each accepted connection, unread, to a worker in turn, only to workers that said they are ready,
 * and keeps it until the worker has taken it (handoff.ts). Each worker is a full smapd with its own modules
 * and databases, built from the config the primary checked and sent (a worker never reads the file, so it
 * cannot serve an edit that no reload checked). The primary restarts a worker that dies, forwards reload and
 * stop, and gathers the workers' counters for status and metrics.
 */
import cluster, { type Worker } from 'node:cluster';
import type net from 'node:net';
import type { Logger } from 'pino';
import { deepFreeze } from '../config/draft.js';
import type { SmapdConfig } from '../config/types.js';
import type { Smapd } from './daemon.js';
import { addressKey, OpenCounts, type LimitHit } from './limits.js';
import { Handoffs } from './handoff.js';
import { openListener, type OpenListener } from './listeners.js';
import { RATE_LOG_INTERVAL_MS, RateLimitedWarning } from './rate-log.js';
import { createStats, type ServerStats } from './stats.js';
import type { CacheStats } from '../modules/cache.js';
import type { HandleStats } from '../modules/handle.js';
import type { LatencySnapshot } from '../metrics/latency.js';

/** Messages between the primary and the workers. */
type ToWorker =
  | { t: 'config'; config: SmapdConfig; current: SmapdConfig | undefined }
  | { t: 'conn'; server: string; address: string; id: number; makeRoom?: LimitHit }
  | { t: 'reload'; config: SmapdConfig }
  | { t: 'reopen-log' }
  | { t: 'stop' }
  | { t: 'stats'; id: number }
  | { t: 'flush'; db: string | undefined };
type ToPrimary =
  | { t: 'hello' }
  | { t: 'ready' }
  | { t: 'taken'; id: number }
  | { t: 'closed'; server: string; address: string }
  | { t: 'stats'; id: number; stats: ServerStats; databases: Record<string, WorkerDatabaseStats> };

/** One worker's figures for one database. */
export interface WorkerDatabaseStats extends HandleStats {
  readonly moduleId: string;
  readonly open: boolean;
  readonly cache: CacheStats | undefined;
  readonly latency: LatencySnapshot;
}

const RESTART_DELAY_MS = 1000;
/** A restart that fails is tried again after twice the delay, up to this. */
const MAX_RESTART_DELAY_MS = 30_000;
/**
 * A worker that has left a socket untaken this long is stopped or stuck (a healthy one takes each within
 * milliseconds): new connections go to the others until it takes its sockets again.
 */
const STUCK_MS = 2000;

export class ClusterPrimary {
  private listeners: OpenListener[] = [];
  private readonly workers: Worker[] = [];
  /** Workers that have loaded their config and take connections. */
  private readonly ready = new Set<Worker>();
  /** The config each worker was last given, so one that started during a reload is brought up to date. */
  private readonly given = new Map<Worker, SmapdConfig>();
  private readonly handoffs = new Handoffs();
  /** Workers passed over as stuck, so that is logged once per episode. */
  private readonly passedOver = new Set<Worker>();
  private next = 0;
  private stopping = false;
  private statsSeq = 0;
  private rejected = 0;
  private readonly open = new OpenCounts();
  /** Per worker: its open connections by `SERVER ADDRESS` (an address has no space), so a dead worker's are let go. */
  private readonly openPerWorker = new Map<Worker, Map<string, number>>();
  private readonly refusedLog: RateLimitedWarning;
  /** While every worker is down, each new connection is closed: one line per interval, not one per connection. */
  private readonly noWorkerLog: RateLimitedWarning;
  private readonly statsWaiters = new Map<number, { got: ToPrimary[]; want: number; done: (r: ToPrimary[]) => void }>();

  /**
   * The config the daemon started with. A worker takes its logging, privileges and servers from it
   * (settings a reload does not change) and its modules, databases and rules from the current one, so a
   * worker restarted after a reload serves like its siblings from its first connection on.
   */
  private readonly initial: SmapdConfig;

  constructor(
    private config: SmapdConfig,
    private readonly log: Logger,
  ) {
    this.refusedLog = new RateLimitedWarning(log, 'too many connections; closing new one');
    this.noWorkerLog = new RateLimitedWarning(log, 'no worker ready; closing connection', RATE_LOG_INTERVAL_MS, 'error');
    this.initial = config;
  }

  get addresses(): ReadonlyMap<string, string> {
    return new Map(this.listeners.map((l) => [l.decl.id, l.address]));
  }

  /** Fork the workers, wait until each has loaded its config, then open the listeners. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.config.workers }, () => this.fork()));
    for (const decl of this.config.servers) {
      const l = await openListener(decl, (socket, d) => this.dispatchConnection(socket, d.id), { pauseOnConnect: true });
      this.listeners.push(l);
      this.log.info({ server: decl.id, address: l.address, workers: this.config.workers }, 'listening');
    }
  }

  /**
   * Give every worker the new config (the primary checked it already); a worker still starting gets it once
   * it is ready.
   */
  reload(config: SmapdConfig): void {
    this.config = config;
    for (const w of this.ready) this.give(w, config);
  }

  /** Tell every worker to reopen its log file (SIGHUP, whether or not the new config is good). */
  reopenLogs(): void {
    for (const w of this.workers) if (w.isConnected()) w.send({ t: 'reopen-log' } satisfies ToWorker);
  }

  private give(w: Worker, config: SmapdConfig): void {
    if (!w.isConnected()) return;
    this.given.set(w, config);
    w.send({ t: 'reload', config } satisfies ToWorker);
  }

  /** Clear the result cache of one database (or all) in every worker. */
  flush(db?: string): void {
    // A worker still starting has an empty cache and no handler for this yet.
    for (const w of this.ready) if (w.isConnected()) w.send({ t: 'flush', db } satisfies ToWorker);
  }

  /** Sum of the workers' counters, and each worker's per-database figures. */
  async stats(): Promise<{ stats: ServerStats; workers: Array<Record<string, WorkerDatabaseStats>> }> {
    const id = ++this.statsSeq;
    // A worker still starting would not answer; its counters are all zero anyway.
    const live = this.workers.filter((w) => this.ready.has(w) && w.isConnected());
    const replies = await new Promise<ToPrimary[]>((resolve) => {
      if (live.length === 0) return resolve([]);
      this.statsWaiters.set(id, { got: [], want: live.length, done: resolve });
      for (const w of live) w.send({ t: 'stats', id } satisfies ToWorker);
      setTimeout(() => {
        const w = this.statsWaiters.get(id);
        if (w) {
          this.statsWaiters.delete(id);
          resolve(w.got);
        }
      }, 2000).unref();
    });
    const total = createStats();
    // Connections refused by the primary's limits never reached a worker.
    total.connectionsRejected = this.rejected;
    for (const r of replies) {
      if (r.t !== 'stats') continue;
      total.startedAt = Math.min(total.startedAt, r.stats.startedAt);
      for (const k of [
        'connectionsTotal',
        'connectionsOpen',
        'connectionsRejected',
        'connectionsEvicted',
        'connectionsStalled',
        'requestTimeouts',
        'requests',
        'protocolErrors',
        'oversizeReplies',
      ] as const) {
        total[k] += r.stats[k];
      }
      for (const k of Object.keys(total.replies) as Array<keyof ServerStats['replies']>) total.replies[k] += r.stats.replies[k];
    }
    return { stats: total, workers: replies.map((r) => (r.t === 'stats' ? r.databases : {})) };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Closing a listener stops accepts at once, but its promise waits for the connections it handed out;
    // those belong to the workers, so the workers are told to stop without waiting for it.
    const closed = Promise.all(this.listeners.map((l) => l.close()));
    const exits = this.workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    for (const w of this.workers) {
      // One that is still starting has no handler for 'stop' yet; SIGTERM ends it either way.
      if (this.ready.has(w) && w.isConnected()) w.send({ t: 'stop' } satisfies ToWorker);
      else if (!w.isDead()) w.process.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      for (const w of this.workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, this.config.shutdownTimeout + 2000);
    await Promise.all(exits);
    clearTimeout(timer);
    await closed;
    this.refusedLog.close();
    this.noWorkerLog.close();
  }

  /**
   * The connection limits are the primary's to keep: each worker sees only its share, so `max-connections`
   * checked there would allow N times the limit. The primary cannot tell an idle connection from a busy one
   * (its worker reads it): with `when-full evict`, a connection past a limit goes to the next worker with the
   * limit it hit, and that worker closes one of its own idle or stalled connections for it, or refuses it.
   * Either way the worker reports a closed connection, so the count is right again.
   */
  private dispatchConnection(socket: net.Socket, serverId: string): void {
    const live = this.workers.filter((w) => this.ready.has(w) && w.isConnected());
    if (live.length === 0) {
      this.noWorkerLog.note({ server: serverId });
      socket.destroy();
      return;
    }
    const decl = this.config.servers.find((d) => d.id === serverId);
    const address = addressKey(socket);
    const hit = this.open.limitHit(this.config, decl, address);
    if (hit !== undefined && this.config.whenFull !== 'evict') {
      this.rejected++;
      this.refusedLog.note({ server: serverId, limit: hit, client: address || 'unix', open: this.open.total });
      socket.destroy();
      return;
    }
    const w = this.pick(live);
    this.track(w, serverId, address, +1);
    this.handoffs.hand(
      w,
      socket,
      (id) => ({ t: 'conn', server: serverId, address, id, makeRoom: hit }) satisfies ToWorker,
      () => this.track(w, serverId, address, -1),
    );
  }

  /** The next worker in turn, unless it is stuck: then the one whose untaken sockets waited least. */
  private pick(live: readonly Worker[]): Worker {
    const w = live[this.next++ % live.length]!;
    const now = Date.now();
    if (this.handoffs.oldestWait(w, now) < STUCK_MS) return w;
    if (!this.passedOver.has(w)) {
      this.passedOver.add(w);
      this.log.error({ pid: w.process.pid }, `worker has not taken a connection for ${STUCK_MS / 1000} s; passing it over`);
    }
    return live.reduce((best, x) => (this.handoffs.oldestWait(x, now) < this.handoffs.oldestWait(best, now) ? x : best));
  }

  /** Count a connection in (+1) or out (-1), per server, address and worker (a dead worker's are let go). */
  private track(w: Worker, serverId: string, address: string, delta: number): void {
    const mine = this.openPerWorker.get(w) ?? new Map<string, number>();
    this.openPerWorker.set(w, mine);
    const key = `${serverId} ${address}`;
    const n = mine.get(key) ?? 0;
    // Never below zero: a late 'closed' from a worker whose connections were already let go.
    const d = Math.max(delta, -n);
    if (d === 0) return;
    mine.set(key, n + d);
    this.open.add(serverId, address, d);
  }

  private fork(): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = cluster.fork({ SMAPD_WORKER: '1' });
      this.workers.push(w);
      let ready = false;
      w.on('message', (msg: ToPrimary) => {
        if (msg.t === 'hello') {
          this.given.set(w, this.config);
          const current = this.config === this.initial ? undefined : this.config;
          w.send({ t: 'config', config: this.initial, current } satisfies ToWorker);
        } else if (msg.t === 'ready') {
          ready = true;
          this.ready.add(w);
          // A reload while it was starting went only to the ready workers.
          if (this.given.get(w) !== this.config) this.give(w, this.config);
          resolve();
        } else if (msg.t === 'taken') {
          this.handoffs.taken(w, msg.id);
          if (this.passedOver.delete(w)) this.log.info({ pid: w.process.pid }, 'worker takes connections again');
        } else if (msg.t === 'closed') {
          this.track(w, msg.server, msg.address, -1);
        } else if (msg.t === 'stats') {
          const waiter = this.statsWaiters.get(msg.id);
          if (waiter) {
            waiter.got.push(msg);
            if (waiter.got.length === waiter.want) {
              this.statsWaiters.delete(msg.id);
              waiter.done(waiter.got);
            }
          }
        }
      });
      // The channel closes before the exit is seen: from then on no socket can reach the worker.
      w.on('disconnect', () => this.letGo(w));
      w.on('exit', (code, signal) => {
        this.letGo(w);
        this.workers.splice(this.workers.indexOf(w), 1);
        this.given.delete(w);
        for (const [key, n] of this.openPerWorker.get(w) ?? []) {
          const sp = key.lastIndexOf(' ');
          this.track(w, key.slice(0, sp), key.slice(sp + 1), -n);
        }
        this.openPerWorker.delete(w);
        if (!ready) return reject(new Error(`worker ${w.process.pid} failed to start (exit ${code ?? signal})`));
        if (this.stopping) return;
        this.log.error({ pid: w.process.pid, code, signal }, 'worker died; restarting');
        this.restartLater(RESTART_DELAY_MS);
      });
    });
  }

  /** Take a worker out of the rotation and close the connections it had not taken yet (their clients retry). */
  private letGo(w: Worker): void {
    this.ready.delete(w);
    this.passedOver.delete(w);
    const closed = this.handoffs.drop(w);
    if (closed > 0) this.log.warn({ pid: w.process.pid, closed }, 'worker gone: closed the connections it had not taken');
  }

  /** Fork a replacement after `delay`; one that fails to start is tried again, each time later. */
  private restartLater(delay: number): void {
    setTimeout(() => {
      if (this.stopping) return;
      this.fork().catch((err) => {
        if (this.stopping) return;
        const next = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
        this.log.error({ err: (err as Error).message, retryInMs: next }, 'worker restart failed; trying again');
        this.restartLater(next);
      });
    }, delay).unref();
  }
}

/** What a worker starts from: the config the daemon started with, and the one of the last reload if any. */
export interface WorkerConfigs {
  readonly initial: SmapdConfig;
  readonly current: SmapdConfig | undefined;
}

/**
 * In a worker, before anything else: ask the primary for the configs it checked. Resolves undefined when the
 * primary goes away first.
 */
export function configFromPrimary(): Promise<WorkerConfigs | undefined> {
  return new Promise((resolve) => {
    const onMessage = (msg: ToWorker) => {
      if (msg.t !== 'config') return;
      done({ initial: deepFreeze(msg.config), current: msg.current && deepFreeze(msg.current) });
    };
    const onDisconnect = () => done(undefined);
    const done = (configs: WorkerConfigs | undefined) => {
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      resolve(configs);
    };
    process.on('message', onMessage);
    process.on('disconnect', onDisconnect);
    process.send?.({ t: 'hello' } satisfies ToPrimary);
  });
}

/** What a worker does on the primary's reload and reopen-log messages. */
export interface WorkerHooks {
  reload(config: SmapdConfig): Promise<void>;
  reopenLog(): void;
}

/** In a worker: take connections from the primary and answer its requests. */
export function runWorker(daemon: Smapd, hooks: WorkerHooks, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    process.on('message', (msg: ToWorker, handle?: net.Socket) => {
      switch (msg.t) {
        case 'conn': {
          const { server, address } = msg;
          const finished = handle ? daemon.adopt(handle, server, msg.makeRoom) : undefined;
          // The primary holds its copy of the socket until it hears this.
          process.send?.({ t: 'taken', id: msg.id } satisfies ToPrimary);
          if (finished === undefined) process.send?.({ t: 'closed', server, address } satisfies ToPrimary);
          else void finished.then(() => process.connected && process.send?.({ t: 'closed', server, address } satisfies ToPrimary));
          break;
        }
        case 'reload':
          void hooks.reload(deepFreeze(msg.config));
          break;
        case 'reopen-log':
          hooks.reopenLog();
          break;
        case 'config':
          break;
        case 'stats': {
          // No prototype: a database may be called `__proto__`.
          const databases: Record<string, WorkerDatabaseStats> = Object.create(null) as Record<string, WorkerDatabaseStats>;
          for (const [id, h] of daemon.currentRuntime.registry.databases) {
            databases[id] = { ...h.stats, moduleId: h.moduleId, open: h.isOpen, cache: h.cache?.stats(), latency: h.latency.snapshot() };
          }
          process.send?.({ t: 'stats', id: msg.id, stats: daemon.stats, databases } satisfies ToPrimary);
          break;
        }
        case 'flush':
          for (const [id, h] of daemon.currentRuntime.registry.databases) if (msg.db === undefined || msg.db === id) h.cache?.clear();
          break;
        case 'stop':
          void daemon.stop().then(() => resolve(0));
          break;
      }
    });
    // The primary decides when to stop; a terminal's Ctrl-C reaches the whole group.
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => void daemon.stop().then(() => resolve(0)));
    process.on('disconnect', () => void daemon.stop().then(() => resolve(0)));
    process.send?.({ t: 'ready' } satisfies ToPrimary);
    log.debug('worker ready');
  });
}
