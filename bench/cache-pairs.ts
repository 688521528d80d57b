/**
 * The cache targets, measured in paired rounds: the same database without a cache and with it, started side
 * by side, loaded one after the other in each round (none, cached, none, cached ...), and judged on the median
 * of the per-round ratios. The module rows compare each row with its own baseline run, and two rows minutes
 * apart then differ by the machine's swings as much as by the cache (a full cache over immutable sqlite came
 * out at 0.91x of no cache that way, and at 1.01x-1.04x paired in the same run: bench/ab-cache.ts).
 */
import type { RunningServer } from './processes.js';
import * as Rp from './report.js';
import type { Load, Suite } from './suite.js';

export interface CachePair {
  /** What the target says, e.g. `sqlite + full, evicting cache >= 0.95x sqlite without cache`. */
  readonly what: string;
  readonly min: number;
  /** Starters for smapd over the database without and with the cache. */
  readonly none: () => Promise<RunningServer>;
  readonly cached: () => Promise<RunningServer>;
  readonly keysFile?: string;
}

export interface PairResult {
  readonly what: string;
  readonly min: number;
  /** Median over the rounds of cached req/s over uncached req/s; undefined when a run failed. */
  readonly rate: number | undefined;
  /** The same for CPU per request (lower is cheaper). */
  readonly cpu: number | undefined;
}

export async function runCachePairs(suite: Suite, pairs: readonly CachePair[], at: Load, rounds: number, say: (line?: string) => void): Promise<PairResult[]> {
  say('== the cache against the same database without it, paired in each round ==');
  const out: PairResult[] = [];
  for (const p of pairs) {
    const none = await suite.start(`${p.what}: no cache`, p.none);
    const cached = typeof none === 'string' ? none : await suite.start(`${p.what}: cache`, p.cached);
    const rates: number[] = [];
    const cpus: number[] = [];
    if (typeof none !== 'string' && typeof cached !== 'string') {
      for (let r = 1; r <= rounds; r++) {
        const a = await suite.load(none, `  no cache #${r}`, at, p.keysFile);
        const b = await suite.load(cached, `  cache #${r}`, at, p.keysFile);
        if (!Rp.isFigures(a) || !Rp.isFigures(b) || a.rps <= 0) continue;
        rates.push(b.rps / a.rps);
        if (a.cpuUs !== undefined && b.cpuUs !== undefined && a.cpuUs > 0) cpus.push(b.cpuUs / a.cpuUs);
      }
    }
    if (typeof cached !== 'string') await suite.stop(`${p.what}: cache`, cached);
    if (typeof none !== 'string') await suite.stop(`${p.what}: no cache`, none);
    const res = { what: p.what, min: p.min, rate: Rp.lowerMedianOf(rates), cpu: Rp.lowerMedianOf(cpus) };
    say(`  ${p.what}: rate ${res.rate?.toFixed(2) ?? '-'}x, cpu ${res.cpu?.toFixed(2) ?? '-'}x of no cache (median of ${rates.length} paired rounds)`);
    out.push(res);
  }
  say();
  return out;
}
