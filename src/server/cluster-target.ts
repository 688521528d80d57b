/**
 * The control socket's and metrics endpoint's view of a multi-process smapd. The primary has no databases
 * of its own: it polls the workers' counters once a second and serves the sums; `flush` is forwarded to every
 * worker; database commands are refused, since each worker has its own copy of each database.
 */
import type { ControlDatabase, ControlTarget } from '../control/target.js';
import type { CacheStats } from '../modules/cache.js';
import type { HandleStats } from '../modules/handle.js';
import { mergeLatency, type LatencySnapshot } from '../metrics/latency.js';
import type { ClusterPrimary, WorkerDatabaseStats } from './cluster.js';
import { createStats, type ServerStats } from './stats.js';

const POLL_MS = 1000;
const COMMANDS_REFUSED = 'database commands are not available with workers > 1';

function sumCache(a: CacheStats | undefined, b: CacheStats | undefined): CacheStats | undefined {
  if (!a) return b;
  if (!b) return a;
  return {
    hits: a.hits + b.hits,
    misses: a.misses + b.misses,
    entries: a.entries + b.entries,
    bytes: a.bytes + b.bytes,
    evictions: a.evictions + b.evictions,
    admitted: a.admitted + b.admitted,
    declined: a.declined + b.declined,
    // Each worker samples on its own; the sparsest sample says how far admission has been cut back.
    admitOneIn: Math.max(a.admitOneIn, b.admitOneIn),
  };
}

export function clusterTarget(primary: ClusterPrimary, isStopping: () => boolean): ControlTarget & { stop(): void } {
  let stats: ServerStats = createStats();
  let dbs = new Map<string, ControlDatabase>();
  const poll = async () => {
    const r = await primary.stats();
    stats = r.stats;
    const merged = new Map<string, { moduleId: string; stats: HandleStats; cache: CacheStats | undefined; latency: LatencySnapshot | undefined; open: boolean }>();
    for (const w of r.workers) {
      for (const [id, d] of Object.entries(w) as Array<[string, WorkerDatabaseStats]>) {
        const m = merged.get(id) ?? { moduleId: d.moduleId, stats: { queries: 0, transforms: 0, errors: 0, timeouts: 0 }, cache: undefined, latency: undefined, open: false };
        m.stats.queries += d.queries;
        m.stats.transforms += d.transforms;
        m.stats.errors += d.errors;
        m.stats.timeouts += d.timeouts;
        m.cache = sumCache(m.cache, d.cache);
        m.latency = mergeLatency(m.latency, d.latency);
        m.open ||= d.open;
        merged.set(id, m);
      }
    }
    dbs = new Map(
      [...merged].map(([id, m]) => [
        id,
        {
          moduleId: m.moduleId,
          stats: m.stats,
          isOpen: m.open,
          cache: m.cache && { stats: () => m.cache!, clear: () => primary.flush(id) },
          latency: m.latency && { snapshot: () => m.latency! },
          commandNames: [],
          command: () => Promise.reject(new Error(COMMANDS_REFUSED)),
        } satisfies ControlDatabase,
      ]),
    );
  };
  void poll();
  const timer = setInterval(() => void poll(), POLL_MS);
  timer.unref();
  return {
    stats: () => stats,
    databases: () => dbs,
    stopping: isStopping,
    commandsRefused: COMMANDS_REFUSED,
    stop: () => clearInterval(timer),
  };
}
