/**
 * Prometheus text exposition (format 0.0.4) of the daemon's counters. Built fresh on each scrape from the
 * same numbers the control socket's `status` shows, so the two never disagree.
 *
 * Per-database counters belong to the current configuration: a reload starts them again from zero, which
 * Prometheus reads as a counter reset (rate() and increase() handle it).
 */
import { VERSION } from '../version.js';
import type { ControlTarget } from '../control/target.js';
import type { ProcessMetrics } from './process.js';
import { LATENCY_BUCKETS_SECONDS, type LatencySnapshot } from './latency.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Kind = 'counter' | 'gauge' | 'histogram';
type Labels = Readonly<Record<string, string>>;

/** Label values may hold any text (a database name is the user's choice); these three must be escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, kind: Kind, help: string, samples: ReadonlyArray<readonly [Labels, number]>): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${kind}`);
    for (const [labels, value] of samples) {
      const keys = Object.keys(labels);
      const ls = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',')}}`;
      this.lines.push(`${name}${ls} ${formatValue(value)}`);
    }
  }

  /** A histogram family: cumulative `_bucket{le}` samples, `_sum` and `_count`, for each labelled snapshot. */
  histogram(name: string, help: string, label: string, items: ReadonlyArray<readonly [string, LatencySnapshot]>): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`);
    for (const [value, h] of items) {
      const l = `${label}="${escapeLabelValue(value)}"`;
      let cumulative = 0;
      LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
        cumulative += h.counts[i] ?? 0;
        this.lines.push(`${name}_bucket{${l},le="${le}"} ${cumulative}`);
      });
      this.lines.push(`${name}_bucket{${l},le="+Inf"} ${h.count}`, `${name}_sum{${l}} ${formatValue(h.sum)}`, `${name}_count{${l}} ${h.count}`);
    }
  }

  one(name: string, kind: Kind, help: string, value: number): void {
    this.family(name, kind, help, [[{}, value]]);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderMetrics(target: ControlTarget, now = Date.now(), processMetrics?: ProcessMetrics): string {
  const s = target.stats();
  const e = new Exposition();
  e.family('smapd_build_info', 'gauge', 'smapd version; the value is always 1.', [[{ version: VERSION }, 1]]);
  e.one('smapd_start_time_seconds', 'gauge', 'When the daemon started, in seconds since the Unix epoch.', s.startedAt / 1000);
  e.one('smapd_uptime_seconds', 'gauge', 'Seconds since the daemon started.', Math.max(0, (now - s.startedAt) / 1000));
  e.one('smapd_connections_open', 'gauge', 'Client connections open now.', s.connectionsOpen);
  e.one('smapd_connections_total', 'counter', 'Client connections accepted.', s.connectionsTotal);
  e.one('smapd_connections_rejected_total', 'counter', 'Client connections closed at once because of a connection limit.', s.connectionsRejected);
  e.one('smapd_connections_evicted_total', 'counter', 'Idle or stalled connections closed to make room when a connection limit was reached.', s.connectionsEvicted);
  e.one('smapd_connections_stalled', 'gauge', 'Connections not answered now because their unsent replies reached max-reply-buffer.', s.connectionsStalled);
  e.one('smapd_request_timeouts_total', 'counter', 'Connections closed because a request, or taking its replies, passed request-timeout.', s.requestTimeouts);
  e.one('smapd_requests_total', 'counter', 'Lookup requests received.', s.requests);
  e.family(
    'smapd_replies_total',
    'counter',
    'Replies sent, by status word.',
    Object.entries(s.replies).map(([status, n]) => [{ status }, n] as const),
  );
  e.one('smapd_protocol_errors_total', 'counter', 'Connections closed because of a malformed request.', s.protocolErrors);
  e.one('smapd_oversize_replies_total', 'counter', 'Replies replaced by PERM because they exceeded max-reply-size.', s.oversizeReplies);

  const dbs = [...target.databases()];
  const per = (f: (db: (typeof dbs)[number][1]) => number) => dbs.map(([db, h]) => [{ db }, f(h)] as const);
  e.family('smapd_db_open', 'gauge', 'Whether the database backend is open (1) or not (0).', per((h) => (h.isOpen ? 1 : 0)));
  e.family('smapd_db_queries_total', 'counter', 'Lookups routed to the database, cache hits included.', per((h) => h.stats.queries));
  e.family('smapd_db_transforms_total', 'counter', 'Transform rules run through the database.', per((h) => h.stats.transforms));
  e.family('smapd_db_errors_total', 'counter', 'Failed opens, queries and transforms (answered TEMP).', per((h) => h.stats.errors));
  e.family('smapd_db_timeouts_total', 'counter', 'Queries that got no answer within the timeout (answered TIMEOUT).', per((h) => h.stats.timeouts));

  const timed = dbs.flatMap(([db, h]) => (h.latency ? [[db, h.latency.snapshot()] as const] : []));
  e.histogram('smapd_db_lookup_duration_seconds', 'How long lookups took, from reaching the database to its answer (cache hits included).', 'db', timed);

  const cached = dbs.flatMap(([db, h]) => (h.cache ? [[db, h.cache.stats()] as const] : []));
  const cache = (f: (c: (typeof cached)[number][1]) => number) => cached.map(([db, c]) => [{ db }, f(c)] as const);
  e.family('smapd_cache_hits_total', 'counter', 'Lookups answered from the result cache.', cache((c) => c.hits));
  e.family('smapd_cache_misses_total', 'counter', 'Lookups the result cache could not answer.', cache((c) => c.misses));
  e.family('smapd_cache_evictions_total', 'counter', 'Cache entries dropped to stay within size or bytes.', cache((c) => c.evictions));
  e.family('smapd_cache_admitted_total', 'counter', 'Misses whose answer was kept in the result cache.', cache((c) => c.admitted));
  e.family('smapd_cache_declined_total', 'counter', 'Misses whose answer a full cache with a low hit ratio did not keep.', cache((c) => c.declined));
  e.family('smapd_cache_admit_one_in', 'gauge', 'The admission sample of a full cache: one miss in this many is kept (1 = all).', cache((c) => c.admitOneIn));
  e.family('smapd_cache_entries', 'gauge', 'Entries in the result cache.', cache((c) => c.entries));
  e.family('smapd_cache_bytes', 'gauge', 'Approximate memory held by the result cache, in bytes.', cache((c) => c.bytes));
  processMetrics?.render(e);
  return e.text();
}
