/**
 * The standard process metrics, under the names Prometheus' client libraries use (`process_*`, `nodejs_*`), so
 * the usual dashboards and alerts work: CPU, resident memory, open file descriptors against their limit, heap,
 * and event-loop delay. Read at scrape time, nothing on the request path. With `workers N` they describe the
 * process that serves the metrics (the primary), not the workers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Where a metric goes: the exposition's `one` and `family` writers. */
export interface MetricSink {
  one(name: string, kind: 'counter' | 'gauge', help: string, value: number): void;
}

/** The event-loop delay is sampled every this many milliseconds (what prom-client uses too). */
const LOOP_RESOLUTION_MS = 10;
/** At most this many samples are kept between scrapes (ten minutes' worth); older ones are overwritten. */
const MAX_SAMPLES = 60_000;

/**
 * Event-loop delay: a timer due every 10 ms notes how late it ran. A loop blocked for 50 ms makes the next tick
 * 50 ms late, whatever blocked it. (Node's monitorEventLoopDelay misses a block that ends before its own timer
 * comes due, so it can report nothing for a stall that every lookup waited through.)
 */
class LoopDelay {
  private readonly samples = new Float64Array(MAX_SAMPLES);
  private count = 0;
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => {
      const now = performance.now();
      this.samples[this.count++ % MAX_SAMPLES] = Math.max(0, now - this.last - LOOP_RESOLUTION_MS);
      this.last = now;
    }, LOOP_RESOLUTION_MS);
    this.timer.unref();
  }

  /** Mean, 99th percentile and maximum in milliseconds since the last call, then start again. */
  take(): { mean: number; p99: number; max: number } {
    const n = Math.min(this.count, MAX_SAMPLES);
    this.count = 0;
    if (n === 0) return { mean: 0, p99: 0, max: 0 };
    const sorted = this.samples.slice(0, n).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    return { mean: sum / n, p99: sorted[Math.min(n - 1, Math.ceil(n * 0.99) - 1)]!, max: sorted[n - 1]! };
  }

  close(): void {
    clearInterval(this.timer);
  }
}

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
  private readonly loop = new LoopDelay();
  private readonly startedAt = Date.now() - process.uptime() * 1000;

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
    const lag = this.loop.take();
    e.one('nodejs_eventloop_lag_mean_seconds', 'gauge', 'Mean event-loop delay since the previous scrape, in seconds.', lag.mean / 1000);
    e.one('nodejs_eventloop_lag_p99_seconds', 'gauge', '99th percentile of the event-loop delay since the previous scrape, in seconds.', lag.p99 / 1000);
    e.one('nodejs_eventloop_lag_max_seconds', 'gauge', 'Longest event-loop delay since the previous scrape, in seconds.', lag.max / 1000);
  }

  close(): void {
    this.loop.close();
  }
}
