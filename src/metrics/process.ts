/**
 * The standard process metrics, under the names Prometheus' client libraries use (`process_*`, `nodejs_*`), so
 * the usual dashboards and alerts work: CPU, resident memory, open file descriptors against their limit, heap,
 * and event-loop delay. Read at scrape time, nothing on the request path. With `workers N` they describe the
 * process that serves the metrics (the primary), not the workers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Where a metric goes: the exposition's `one` and `family` writers. */
export interface MetricSink {
  one(name: string, kind: 'counter' | 'gauge', help: string, value: number): void;
}

/** The event-loop delay is sampled every this many milliseconds (what prom-client uses too). */
const LOOP_RESOLUTION_MS = 10;

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // the directory handle readdir itself opened
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

export class ProcessMetrics {
  private readonly loop: IntervalHistogram;
  private readonly startedAt = Date.now() - process.uptime() * 1000;

  constructor() {
    this.loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loop.enable();
  }

  /** Write every metric; the event-loop figures cover the time since the previous scrape. */
  render(e: MetricSink): void {
    const cpu = process.cpuUsage();
    e.one('process_cpu_user_seconds_total', 'counter', 'User CPU time spent, in seconds.', cpu.user / 1e6);
    e.one('process_cpu_system_seconds_total', 'counter', 'System CPU time spent, in seconds.', cpu.system / 1e6);
    e.one('process_cpu_seconds_total', 'counter', 'User and system CPU time spent, in seconds.', (cpu.user + cpu.system) / 1e6);
    e.one('process_start_time_seconds', 'gauge', 'Start time of the process, in seconds since the Unix epoch.', Math.round(this.startedAt / 1000));
    const mem = process.memoryUsage();
    e.one('process_resident_memory_bytes', 'gauge', 'Resident memory size, in bytes.', mem.rss);
    e.one('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap size, in bytes.', mem.heapTotal);
    e.one('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes.', mem.heapUsed);
    e.one('nodejs_external_memory_bytes', 'gauge', 'Memory of Buffers and other objects outside the V8 heap, in bytes.', mem.external);
    const fds = openFds();
    if (fds !== undefined) e.one('process_open_fds', 'gauge', 'Open file descriptors.', fds);
    const max = maxFds();
    if (max !== undefined) e.one('process_max_fds', 'gauge', 'Limit of open file descriptors.', max);
    const h = this.loop;
    // No sample yet (a scrape right after the previous one): report 0 rather than the histogram's sentinels.
    const seen = h.count > 0;
    e.one('nodejs_eventloop_lag_mean_seconds', 'gauge', 'Mean event-loop delay since the previous scrape, in seconds.', seen ? h.mean / 1e9 : 0);
    e.one('nodejs_eventloop_lag_p99_seconds', 'gauge', '99th percentile of the event-loop delay since the previous scrape, in seconds.', seen ? h.percentile(99) / 1e9 : 0);
    e.one('nodejs_eventloop_lag_max_seconds', 'gauge', 'Longest event-loop delay since the previous scrape, in seconds.', seen ? h.max / 1e9 : 0);
    h.reset();
  }

  close(): void {
    this.loop.disable();
  }
}
