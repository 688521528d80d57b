/**
 * `workers N`: one primary process owns the listeners (so unix socket mode, owner and clean-up happen once)
 * and hands each accepted connection, unread, to a worker in turn. Each worker is a full smapd with its own
 * modules and databases. The primary restarts a worker that dies, forwards reload and stop, and gathers
 * the workers' counters for status and metrics.
 */
import cluster, { type Worker } from 'node:cluster';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import type { Smapd } from './daemon.js';
import { addressKey, OpenCounts, type LimitHit } from './limits.js';
import { openListener, type OpenListener } from './listeners.js';
import { RateLimitedWarning } from './rate-log.js';
import { createStats, type ServerStats } from './stats.js';
import type { CacheStats } from '../modules/cache.js';
import type { HandleStats } from '../modules/handle.js';

/** Messages between the primary and the workers. */
type ToWorker =
  | { t: 'conn'; server: string; address: string; makeRoom?: LimitHit }
  | { t: 'reload' }
  | { t: 'stop' }
  | { t: 'stats'; id: number }
  | { t: 'flush'; db: string | undefined };
type ToPrimary =
  | { t: 'ready' }
  | { t: 'closed'; server: string; address: string }
  | { t: 'stats'; id: number; stats: ServerStats; databases: Record<string, WorkerDatabaseStats> };

/** One worker's figures for one database. */
export interface WorkerDatabaseStats extends HandleStats {
  readonly moduleId: string;
  readonly open: boolean;
  readonly cache: CacheStats | undefined;
}

const RESTART_DELAY_MS = 1000;

export class ClusterPrimary {
  private listeners: OpenListener[] = [];
  private readonly workers: Worker[] = [];
  private next = 0;
  private stopping = false;
  private statsSeq = 0;
  private rejected = 0;
  private readonly open = new OpenCounts();
  /** Per worker: its open connections by `SERVER ADDRESS` (an address has no space), so a dead worker's are let go. */
  private readonly openPerWorker = new Map<Worker, Map<string, number>>();
  private readonly refusedLog: RateLimitedWarning;
  private readonly statsWaiters = new Map<number, { got: ToPrimary[]; want: number; done: (r: ToPrimary[]) => void }>();

  constructor(
    private config: SmapdConfig,
    private readonly log: Logger,
  ) {
    this.refusedLog = new RateLimitedWarning(log, 'too many connections; closing new one');
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

  /** Ask every worker to reload its config (the primary checked it already). */
  reload(config: SmapdConfig): void {
    this.config = config;
    for (const w of this.workers) w.send({ t: 'reload' } satisfies ToWorker);
  }

  /** Clear the result cache of one database (or all) in every worker. */
  flush(db?: string): void {
    for (const w of this.workers) if (w.isConnected()) w.send({ t: 'flush', db } satisfies ToWorker);
  }

  /** Sum of the workers' counters, and each worker's per-database figures. */
  async stats(): Promise<{ stats: ServerStats; workers: Array<Record<string, WorkerDatabaseStats>> }> {
    const id = ++this.statsSeq;
    const live = this.workers.filter((w) => w.isConnected());
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
    for (const w of this.workers) if (w.isConnected()) w.send({ t: 'stop' } satisfies ToWorker);
    const timer = setTimeout(() => {
      for (const w of this.workers) if (!w.isDead()) w.process.kill('SIGKILL');
    }, this.config.shutdownTimeout + 2000);
    await Promise.all(exits);
    clearTimeout(timer);
    await closed;
    this.refusedLog.close();
  }

  /**
   * The connection limits are the primary's to keep: each worker sees only its share, so `max-connections`
   * checked there would allow N times the limit. The primary cannot tell an idle connection from a busy one
   * (its worker reads it): with `when-full evict`, a connection past a limit goes to the next worker with the
   * limit it hit, and that worker closes one of its own idle or stalled connections for it, or refuses it.
   * Either way the worker reports a closed connection, so the count is right again.
   */
  private dispatchConnection(socket: net.Socket, serverId: string): void {
    const live = this.workers.filter((w) => w.isConnected());
    if (live.length === 0) {
      this.log.error({ server: serverId }, 'no worker alive; closing connection');
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
    const w = live[this.next++ % live.length]!;
    this.track(w, serverId, address, +1);
    w.send({ t: 'conn', server: serverId, address, makeRoom: hit } satisfies ToWorker, socket, { keepOpen: false }, (err) => {
      if (err) {
        this.track(w, serverId, address, -1);
        socket.destroy();
      }
    });
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
        if (msg.t === 'ready') {
          ready = true;
          resolve();
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
      w.on('exit', (code, signal) => {
        this.workers.splice(this.workers.indexOf(w), 1);
        for (const [key, n] of this.openPerWorker.get(w) ?? []) {
          const sp = key.lastIndexOf(' ');
          this.track(w, key.slice(0, sp), key.slice(sp + 1), -n);
        }
        this.openPerWorker.delete(w);
        if (!ready) return reject(new Error(`worker ${w.process.pid} failed to start (exit ${code ?? signal})`));
        if (this.stopping) return;
        this.log.error({ pid: w.process.pid, code, signal }, 'worker died; restarting');
        setTimeout(() => {
          if (!this.stopping) this.fork().catch((err) => this.log.error({ err: (err as Error).message }, 'worker restart failed'));
        }, RESTART_DELAY_MS).unref();
      });
    });
  }
}

/** In a worker: take connections from the primary and answer its requests. */
export function runWorker(daemon: Smapd, reload: () => Promise<void>, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    process.on('message', (msg: ToWorker, handle?: net.Socket) => {
      switch (msg.t) {
        case 'conn': {
          const { server, address } = msg;
          const finished = handle ? daemon.adopt(handle, server, msg.makeRoom) : undefined;
          if (finished === undefined) process.send?.({ t: 'closed', server, address } satisfies ToPrimary);
          else void finished.then(() => process.connected && process.send?.({ t: 'closed', server, address } satisfies ToPrimary));
          break;
        }
        case 'reload':
          void reload();
          break;
        case 'stats': {
          // No prototype: a database may be called `__proto__`.
          const databases: Record<string, WorkerDatabaseStats> = Object.create(null) as Record<string, WorkerDatabaseStats>;
          for (const [id, h] of daemon.currentRuntime.registry.databases) {
            databases[id] = { ...h.stats, moduleId: h.moduleId, open: h.isOpen, cache: h.cache?.stats() };
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
