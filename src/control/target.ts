/**
 * What the control socket and the metrics endpoint look at. They depend on this small interface rather than
 * on the daemon class, so tests can serve a registry of real databases without a whole daemon, and the
 * daemon's internals stay free to change.
 */
import { VERSION } from '../version.js';
import type { CacheStats } from '../modules/cache.js';
import type { HandleStats } from '../modules/handle.js';
import type { LatencySnapshot } from '../metrics/latency.js';
import type { Registry } from '../modules/registry.js';
import type { ServerStats } from '../server/stats.js';

/** The parts of a database handle (DatabaseHandleImpl) the control socket uses. */
export interface ControlDatabase {
  readonly moduleId: string;
  readonly stats: Readonly<HandleStats>;
  readonly cache: { stats(): CacheStats; clear(): void } | undefined;
  readonly isOpen: boolean;
  /** The lookup latency histogram (absent for a target that keeps none). */
  readonly latency?: { snapshot(): LatencySnapshot };
  readonly commandNames: readonly string[];
  command(name: string, args: readonly string[]): Promise<string>;
  /** One line of help for a command, when the handle can tell (optional). */
  commandHelp?(name: string): string | undefined;
}

export interface ControlTarget {
  /** The process-wide counters. */
  stats(): Readonly<ServerStats>;
  /** The databases of the current configuration (after a reload: the new one's). */
  databases(): ReadonlyMap<string, ControlDatabase>;
  /** True once the daemon is shutting down; health checks then fail so a balancer stops sending. */
  stopping(): boolean;
  /** Set when `db` commands cannot run here (several worker processes): the reason they are refused. */
  readonly commandsRefused?: string;
}

/** The daemon as far as `smapdTarget` needs it (structurally a `Smapd`). */
export interface DaemonLike {
  readonly stats: ServerStats;
  readonly currentRuntime: { readonly registry: Pick<Registry, 'databases'> };
}

/**
 * The target for a running daemon. The daemon does not expose whether it is stopping, so the caller that
 * starts the stop says so through `isStopping`.
 */
export function smapdTarget(daemon: DaemonLike, isStopping: () => boolean = () => false): ControlTarget {
  return {
    stats: () => daemon.stats,
    databases: () => daemon.currentRuntime.registry.databases,
    stopping: isStopping,
  };
}

export interface DatabaseStatus {
  readonly module: string;
  readonly open: boolean;
  readonly queries: number;
  readonly transforms: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly cache: CacheStats | null;
}

/** The `status` reply, as JSON. Field names are an interface: scripts read them. */
export interface StatusReport {
  readonly version: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly stopping: boolean;
  readonly connections: {
    readonly open: number;
    readonly total: number;
    readonly rejected: number;
    readonly evicted: number;
    readonly stalled: number;
    readonly requestTimeouts: number;
  };
  readonly requests: number;
  readonly protocolErrors: number;
  readonly oversizeReplies: number;
  readonly replies: Readonly<Record<string, number>>;
  readonly databases: Readonly<Record<string, DatabaseStatus>>;
}

export function collectStatus(target: ControlTarget, now = Date.now()): StatusReport {
  const s = target.stats();
  // No prototype: a database may be called `__proto__`.
  const databases: Record<string, DatabaseStatus> = Object.create(null) as Record<string, DatabaseStatus>;
  for (const [name, db] of target.databases()) {
    databases[name] = {
      module: db.moduleId,
      open: db.isOpen,
      queries: db.stats.queries,
      transforms: db.stats.transforms,
      errors: db.stats.errors,
      timeouts: db.stats.timeouts,
      cache: db.cache ? db.cache.stats() : null,
    };
  }
  return {
    version: VERSION,
    pid: process.pid,
    startedAt: new Date(s.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((now - s.startedAt) / 1000)),
    stopping: target.stopping(),
    connections: {
      open: s.connectionsOpen,
      total: s.connectionsTotal,
      rejected: s.connectionsRejected,
      evicted: s.connectionsEvicted,
      stalled: s.connectionsStalled,
      requestTimeouts: s.requestTimeouts,
    },
    requests: s.requests,
    protocolErrors: s.protocolErrors,
    oversizeReplies: s.oversizeReplies,
    replies: { ...s.replies },
    databases,
  };
}
