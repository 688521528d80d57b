/**
 * The optional C reference section: smapd+file, the Node baseline server and the C reference server
 * (`refsmapd`), all three driven by the same C load generator (`sockbench`), so that the load generator's
 * own cost is the same small one on every side. For each load, each round runs the three back to back and
 * the ratios smapd/C and smapd/Node are taken within the round; the median over the rounds is kept, so that
 * a slow patch of a shared machine spoils one round, not the comparison.
 *
 * Loads: 16 and 64 connections at depth 1, 16 connections pipelined 16 deep, and connection churn
 * (`sockbench --reconnect`: connect, one request, close, 16 at a time), where the figures are new
 * connections per second and server CPU per connection.
 */
import { sockbenchWithCpu, startRefsmapd, type CTools } from './c-tools.js';
import { MAP_NAME, writeKeysFile, type Entry } from './fixtures.js';
import { probe, type RunningServer } from './processes.js';
import * as Rp from './report.js';

interface CLoad {
  readonly name: string;
  readonly conns: number;
  readonly depth: number;
  readonly reconnect: boolean;
}

export const C_LOADS: readonly CLoad[] = [
  { name: '16 conn x depth 1', conns: 16, depth: 1, reconnect: false },
  { name: '64 conn x depth 1', conns: 64, depth: 1, reconnect: false },
  { name: '16 conn x depth 16', conns: 16, depth: 16, reconnect: false },
  { name: 'new conn, 16 at a time', conns: 16, depth: 1, reconnect: true },
];

export interface CSectionContext {
  readonly tools: CTools;
  readonly workDir: string;
  readonly entries: readonly Entry[];
  /** The text map all three servers answer from (`key  value` lines: refsmapd reads the same format). */
  readonly mapFile: string;
  readonly seconds: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly say: (line?: string) => void;
  readonly startSmapd: () => Promise<RunningServer>;
  readonly startBaseline: () => Promise<RunningServer>;
}

/** One run: rate (requests or connections a second) and server CPU µs per request or connection. */
interface CFigures {
  readonly rate: number;
  readonly cpuUs: number | undefined;
  readonly errors: number;
  readonly p99Ms: number;
}

export interface CSectionResult {
  /** Per load: the median over rounds of smapd/C and smapd/Node, by rate and by CPU. */
  readonly rows: ReadonlyArray<{ load: CLoad; rateVsC?: number; cpuVsC?: number; rateVsNode?: number; cpuVsNode?: number }>;
}

const SIDES = ['C refsmapd', 'Node baseline', 'smapd+file'] as const;

async function measure(cx: CSectionContext, server: RunningServer, keysFile: string, load: CLoad): Promise<CFigures | string> {
  try {
    const { result: r, cpuUs } = await sockbenchWithCpu(cx.tools, server.pid, {
      port: server.port,
      map: MAP_NAME,
      keysFile,
      conns: load.conns,
      depth: load.depth,
      seconds: cx.seconds,
      warmup: cx.warmup,
      reconnect: load.reconnect,
      expectPrefix: 'OK ',
    });
    return { rate: r.rps, cpuUs, errors: r.errors + r.unexpected, p99Ms: r.p99_us / 1000 };
  } catch (err) {
    return (err as Error).message;
  }
}

const x = (r: number | undefined) => (r === undefined ? '-' : `${r.toFixed(2)}x`);

/** Run the section and print its table; servers that do not start make the section say so and return. */
export async function cReferenceRuns(cx: CSectionContext): Promise<CSectionResult> {
  const say = cx.say;
  say(`== C reference (sockbench load generator): smapd+file against refsmapd (C, epoll, one thread) and the Node baseline ==`);
  const keysFile = writeKeysFile(cx.workDir, cx.entries, 'c-keys.txt');
  const servers: RunningServer[] = [];
  try {
    servers.push(await startRefsmapd(cx.tools, cx.mapFile), await cx.startBaseline(), await cx.startSmapd());
    // Each must answer a known key right (this also waits for a map loaded on the first request).
    const e = cx.entries[Math.floor(cx.entries.length / 2)]!;
    for (const [si, server] of servers.entries()) {
      const got = await probe(server.port, MAP_NAME, e.key);
      if (got !== `OK ${e.value}`) throw new Error(`${SIDES[si]} answered '${got}' for ${e.key}, expected 'OK ${e.value}'`);
    }
  } catch (err) {
    say(`  skipped: ${(err as Error).message}`);
    await Promise.all(servers.map((s) => s.stop()));
    return { rows: [] };
  }
  // runs[load][side][round]
  const runs: Array<Array<Array<CFigures | string>>> = C_LOADS.map(() => SIDES.map(() => []));
  try {
    for (let round = 1; round <= cx.rounds; round++) {
      for (const [li, load] of C_LOADS.entries()) {
        for (const [si, server] of servers.entries()) {
          const f = await measure(cx, server, keysFile, load);
          runs[li]![si]!.push(f);
          const unit = load.reconnect ? 'conn/s' : 'req/s';
          const what = typeof f === 'string' ? `FAILED: ${f}` : `${Rp.formatRate(f.rate).padStart(9)} ${unit}  p99 ${Rp.formatMs(f.p99Ms)} ms  errors ${f.errors}${f.cpuUs === undefined ? '' : `  cpu ${f.cpuUs.toFixed(1)} µs`}`;
          say(`  ${`${SIDES[si]}, ${load.name}${cx.rounds > 1 ? ` #${round}` : ''}`.padEnd(44)} ${what}`);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  const ratios = (li: number, side: number, pick: (f: CFigures) => number | undefined) => {
    const out: number[] = [];
    const mine = runs[li]![2]!;
    const theirs = runs[li]![side]!;
    for (let r = 0; r < mine.length; r++) {
      const a = mine[r];
      const b = theirs[r];
      if (a === undefined || b === undefined || typeof a === 'string' || typeof b === 'string') continue;
      const pa = pick(a);
      const pb = pick(b);
      if (pa !== undefined && pb !== undefined && pb > 0) out.push(pa / pb);
    }
    return Rp.medianOf(out);
  };
  const rows = C_LOADS.map((load, li) => ({
    load,
    rateVsC: ratios(li, 0, (f) => f.rate),
    cpuVsC: ratios(li, 0, (f) => f.cpuUs),
    rateVsNode: ratios(li, 1, (f) => f.rate),
    cpuVsNode: ratios(li, 1, (f) => f.cpuUs),
  }));
  const medianFig = (li: number, si: number, pick: (f: CFigures) => number | undefined) =>
    Rp.medianOf(runs[li]![si]!.flatMap((f) => (typeof f === 'string' ? [] : [pick(f)].filter((v): v is number => v !== undefined))));
  const rate = (v: number | undefined) => (v === undefined ? '-' : Rp.formatRate(v));
  const cpu = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
  say();
  say(
    Rp.table(
      ['load', 'C rate', 'C cpu µs', 'Node rate', 'Node cpu µs', 'smapd rate', 'smapd cpu µs', 'rate vs C', 'cpu vs C', 'rate vs Node', 'cpu vs Node'],
      rows.map((row, li) => [
        row.load.name,
        rate(medianFig(li, 0, (f) => f.rate)),
        cpu(medianFig(li, 0, (f) => f.cpuUs)),
        rate(medianFig(li, 1, (f) => f.rate)),
        cpu(medianFig(li, 1, (f) => f.cpuUs)),
        rate(medianFig(li, 2, (f) => f.rate)),
        cpu(medianFig(li, 2, (f) => f.cpuUs)),
        x(row.rateVsC),
        x(row.cpuVsC),
        x(row.rateVsNode),
        x(row.cpuVsNode),
      ]),
    ),
  );
  say('rate: requests/s (new connections/s for churn); cpu: server CPU per request (per connection for churn);');
  say(`ratios: smapd over the run of the same round, median of ${cx.rounds} round(s); figures: medians over the rounds`);
  say();
  return { rows };
}

/** The issue-11 targets against the C server. */
export function cTargets(res: CSectionResult): Rp.Target[] {
  const at = (name: string) => res.rows.find((r) => r.load.name === name);
  const min = (what: string, v: number | undefined, bound: number): Rp.Target => ({ what, measured: v === undefined ? undefined : x(v), pass: v !== undefined && v >= bound });
  const max = (what: string, v: number | undefined, bound: number): Rp.Target => ({ what, measured: v === undefined ? undefined : x(v), pass: v !== undefined && v <= bound });
  if (res.rows.length === 0) return [];
  return [
    min('smapd+file >= 0.85x C server, 16 conn x 1', at('16 conn x depth 1')?.rateVsC, 0.85),
    min('smapd+file >= 0.8x C server, 64 conn x 1', at('64 conn x depth 1')?.rateVsC, 0.8),
    min('smapd+file >= 0.75x C server, 16 conn x 16 deep', at('16 conn x depth 16')?.rateVsC, 0.75),
    max('smapd+file cpu/request <= 1.2x C server, 16 conn x 1', at('16 conn x depth 1')?.cpuVsC, 1.2),
    min('smapd+file new conn/s >= 0.95x C server', at('new conn, 16 at a time')?.rateVsC, 0.95),
    max('smapd+file cpu/connection <= 1.5x C server', at('new conn, 16 at a time')?.cpuVsC, 1.5),
  ];
}
