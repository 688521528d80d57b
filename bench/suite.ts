/**
 * The steps the bench repeats: start a server and check that it answers right, put one closed-loop or churn
 * load on it while watching its CPU time, and pick the median of repeated runs. Failures to start or to
 * answer right are reported as skipped outcomes (and remembered in `failures`), never thrown.
 */
import { cpuSeconds } from './cpu.js';
import type { Entry } from './fixtures.js';
import { MAP_NAME } from './fixtures.js';
import { probe, runJob, type RunningServer } from './processes.js';
import { figuresOf, isFigures, runLine, type Figures, type Outcome } from './report.js';

export interface Load {
  readonly conns: number;
  readonly depth: number;
}

export interface SuiteSettings {
  readonly dist: string;
  readonly seconds: number;
  readonly warmup: number;
  readonly keysFile: string;
  readonly entries: readonly Entry[];
  /** A safety bound on one run's requests. */
  readonly maxRequests: number;
  readonly say: (line?: string) => void;
}

export const loadName = (s: Load) => `${s.conns} conn x depth ${s.depth}`;

export const okValue = (e: Entry) => `OK ${e.value}`;

export class Suite {
  /** Servers or runs that failed where they should have worked; any makes the exit code non-zero. */
  readonly failures: string[] = [];

  constructor(readonly settings: SuiteSettings) {}

  /** Start a server and check its answer for a known key; undefined (after saying why) when either fails. */
  async start(label: string, start: () => Promise<RunningServer>, expected: (e: Entry) => string = okValue): Promise<RunningServer | string> {
    let server: RunningServer;
    try {
      server = await start();
    } catch (err) {
      const why = (err as Error).message;
      this.settings.say(`  ${label}: FAILED to start: ${why}`);
      this.failures.push(`${label}: ${why.split('\n')[0]}`);
      return 'server failed to start';
    }
    const e = this.settings.entries[Math.floor(this.settings.entries.length / 2)]!;
    let wrong: string | undefined;
    try {
      const got = await probe(server.port, MAP_NAME, e.key);
      if (got !== expected(e)) wrong = `wrong answer for ${e.key}: '${got}', expected '${expected(e)}'`;
    } catch (err) {
      wrong = (err as Error).message;
    }
    if (wrong !== undefined) {
      this.settings.say(`  ${label}: FAILED check: ${wrong}`);
      this.failures.push(`${label}: ${wrong}`);
      await this.stop(label, server);
      return 'server answered wrong';
    }
    return server;
  }

  async stop(label: string, server: RunningServer): Promise<void> {
    await server.stop();
    if (server.problems.length > 0) {
      this.settings.say(`    ${label} logged ${server.problems.length} warning(s)/error(s), first: ${server.problems[0]}`);
    }
  }

  /**
   * One closed-loop run against a started server; `keysFile` narrows the keys asked (default: all), `zipf`
   * draws them by Zipf's law with that exponent instead of uniformly.
   */
  async load(server: RunningServer, label: string, s: Load, keysFile = this.settings.keysFile, zipf?: number): Promise<Outcome> {
    const st = this.settings;
    const cpu0 = cpuSeconds(server.pid);
    const r = await runJob(st.dist, {
      kind: 'load',
      opts: {
        host: '127.0.0.1',
        port: server.port,
        connections: s.conns,
        depth: s.depth,
        seconds: st.seconds,
        warmupSeconds: st.warmup,
        maxRequests: st.maxRequests,
        map: MAP_NAME,
        keysFile,
        notFoundIsOk: false,
        zipf,
      },
    });
    const cpu1 = cpuSeconds(server.pid);
    if (r.kind !== 'load') {
      this.failures.push(`${label}: load generator failed`);
      return { label, skipped: `load generator failed: ${r.kind === 'failed' ? r.error : r.kind}` };
    }
    const res = r.result;
    const cpuUs = cpu0 !== undefined && cpu1 !== undefined && res.answered > 0 ? ((cpu1 - cpu0) * 1e6) / res.answered : undefined;
    const f = figuresOf(label, res.rps, res.latency, res.errors, res.sample, cpuUs);
    this.report(f);
    return f;
  }

  /** One churn run against a started server. */
  async churn(server: RunningServer, label: string, rate: number, total: number): Promise<Outcome> {
    const st = this.settings;
    const cpu0 = cpuSeconds(server.pid);
    const r = await runJob(st.dist, {
      kind: 'churn',
      opts: { host: '127.0.0.1', port: server.port, rate, total, maxOpen: 512, map: MAP_NAME, keysFile: st.keysFile, notFoundIsOk: false },
    });
    const cpu1 = cpuSeconds(server.pid);
    if (r.kind !== 'churn') {
      this.failures.push(`${label}: load generator failed`);
      return { label, skipped: r.kind === 'failed' ? r.error : 'no figures' };
    }
    const res = r.result;
    const cpuUs = cpu0 !== undefined && cpu1 !== undefined && res.connections > 0 ? ((cpu1 - cpu0) * 1e6) / res.connections : undefined;
    const f = figuresOf(label, res.rate, res.latency, res.errors, res.sample, cpuUs);
    this.report(f, 'conn/s');
    return f;
  }

  private report(f: Figures, unit = 'req/s'): void {
    this.settings.say(runLine(f, unit));
    if (f.errors > 0 && f.sample !== undefined) this.settings.say(`    first error: ${f.sample}`);
  }
}

/**
 * The run with the median rate among repeats (its latencies come with it, so the row is one real run), and
 * the spread of the rates as a fraction of that median.
 */
export function median(runs: readonly Outcome[]): { pick: Outcome | undefined; spread: number | undefined } {
  const ok = runs.filter(isFigures).sort((a, b) => a.rps - b.rps);
  if (ok.length === 0) return { pick: runs[0], spread: undefined };
  const pick = ok[Math.floor((ok.length - 1) / 2)]!;
  const spread = ok.length > 1 && pick.rps > 0 ? (ok[ok.length - 1]!.rps - ok[0]!.rps) / pick.rps : undefined;
  return { pick, spread };
}
