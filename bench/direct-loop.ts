/**
 * The closed loop of a bare-client run (bench/direct-pg.ts, direct-mysql.ts, redis-load.ts, ldap-load.ts): `callers` callers each
 * making one lookup after another with a random key, for a warm-up and then a measured window. A lookup
 * answers true for a row found; a throw counts as an error.
 */
import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';
import type { LoadResult } from './loadgen.js';
import { readKeys, seededRandom } from './requests.js';

export interface LoopOptions {
  readonly callers: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly keysFile: string;
}

/** A bare SQL client's run: where to connect, the statement, and the pool the callers share. */
export interface DirectSqlOptions extends LoopOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** The statement, with the driver's placeholder for the key (`?` for mysql2, `$1` for pg). */
  readonly sql: string;
  readonly poolSize: number;
}

export async function runClosedLoop(o: LoopOptions, lookup: (key: string) => Promise<boolean>): Promise<LoadResult> {
  const keys = readKeys(o.keysFile);
  const hist = new Histogram();
  let running = true;
  let measuring = false;
  let inWindow = 0;
  let answered = 0;
  let ok = 0;
  let errors = 0;
  let sample: string | undefined;
  const caller = async (seed: number): Promise<void> => {
    const next = seededRandom(seed);
    while (running) {
      const key = keys[Math.floor(next() * keys.length)]!;
      const t = performance.now();
      try {
        if (await lookup(key)) ok++;
        else {
          errors++;
          sample ??= `no row for ${key}`;
        }
      } catch (err) {
        errors++;
        sample ??= (err as Error).message;
      }
      answered++;
      if (measuring) {
        inWindow++;
        hist.record(performance.now() - t);
      }
    }
  };
  const callers = Array.from({ length: o.callers }, (_, i) => caller(i + 1));
  await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  running = false;
  await Promise.all(callers);
  return { requests: inWindow, answered, seconds, rps: inWindow / seconds, latency: hist.toData(), ok, notFound: 0, errors, connErrors: 0, sample };
}
