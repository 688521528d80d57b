/**
 * Turns the bench's figures into the printed tables and the PASS/MISS summary of the performance targets.
 * Pure formatting: no I/O besides the returned strings.
 */
import { Histogram, type HistogramData } from './histogram.js';

/** One measured run, or the reason it was not measured. */
export interface Figures {
  readonly label: string;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
  readonly sample: string | undefined;
  /** The server's CPU time per request (or per connection, for churn), µs; undefined off Linux. */
  readonly cpuUs: number | undefined;
}

export type Outcome = Figures | { readonly label: string; readonly skipped: string };

export function isFigures(o: Outcome | undefined): o is Figures {
  return o !== undefined && 'rps' in o;
}

export function figuresOf(
  label: string,
  rate: number,
  latency: HistogramData,
  errors: number,
  sample: string | undefined,
  cpuUs: number | undefined,
): Figures {
  const h = Histogram.fromData(latency);
  return { label, rps: rate, p50: h.percentile(50), p99: h.percentile(99), max: h.maxMs, errors, sample, cpuUs };
}

/** The median of `xs` (the mean of the middle two for an even count); undefined when empty. */
export function medianOf(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

/** The lower of the middle two for an even count (always one of the values); undefined when empty. */
export function lowerMedianOf(xs: readonly number[]): number | undefined {
  return xs.length === 0 ? undefined : [...xs].sort((p, q) => p - q)[(xs.length - 1) >> 1];
}

/** A run's line as the bench prints it while measuring: rate, latency, errors and, when known, server CPU. */
export function runLine(f: Figures, unit = 'req/s'): string {
  const per = unit === 'req/s' ? 'req' : 'conn';
  const cpu = f.cpuUs === undefined ? '' : `  cpu ${f.cpuUs.toFixed(1)} µs/${per}`;
  return `  ${f.label.padEnd(40)} ${formatRate(f.rps).padStart(9)} ${unit}  p50 ${formatMs(f.p50)}  p99 ${formatMs(f.p99)}  max ${formatMs(f.max)} ms  errors ${f.errors}${cpu}`;
}

export function formatRate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(3);
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Cells for one outcome: figures, or the reason it was skipped spread over the row. */
export function cells(o: Outcome | undefined): string[] {
  if (o === undefined) return ['-', '-', '-', '-', '-'];
  if (!isFigures(o)) return [`skipped: ${o.skipped}`, '', '', '', ''];
  return [formatRate(o.rps), formatMs(o.p50), formatMs(o.p99), formatMs(o.max), String(o.errors)];
}

export function cpuCell(o: Outcome | undefined): string {
  return isFigures(o) && o.cpuUs !== undefined ? o.cpuUs.toFixed(1) : '-';
}

/** `a` over `b` by rate: 1.00x means as fast. */
export function ratio(a: Outcome | undefined, b: Outcome | undefined): string {
  return isFigures(a) && isFigures(b) && b.rps > 0 ? `${(a.rps / b.rps).toFixed(2)}x` : '-';
}

/** `a`'s CPU per request over `b`'s: 1.00x means as cheap, 1.50x costs half as much again. */
export function cpuRatio(a: Outcome | undefined, b: Outcome | undefined): string {
  return isFigures(a) && isFigures(b) && a.cpuUs !== undefined && b.cpuUs !== undefined && b.cpuUs > 0
    ? `${(a.cpuUs / b.cpuUs).toFixed(2)}x`
    : '-';
}

export function spreadCell(spread: number | undefined): string {
  return spread === undefined ? '-' : `±${((spread * 100) / 2).toFixed(0)}%`;
}

export interface Target {
  readonly what: string;
  /** The measured value as text, or undefined when it could not be measured. */
  readonly measured: string | undefined;
  readonly pass: boolean;
}

export function targetLines(targets: readonly Target[]): string {
  return table(
    ['target', 'measured', 'result'],
    targets.map((t) => [t.what, t.measured ?? 'not measured', t.measured === undefined ? 'SKIP' : t.pass ? 'PASS' : 'MISS']),
  );
}
