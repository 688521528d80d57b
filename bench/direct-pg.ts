/**
 * The bare-client side of the postgres row: the same lookups smapd's postgres module makes (a named
 * prepared statement, one random key each, array rows), straight from `pg`, with the same concurrency: as
 * many callers as the load generator has connections, sharing a pool of the module's default size. The
 * difference between the two is what smapd costs on top of the driver.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Histogram } from './histogram.js';
import type { LoadResult } from './loadgen.js';
import { readKeys, seededRandom } from './requests.js';

export interface DirectPgOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** The statement, with `$1` for the key. */
  readonly sql: string;
  readonly callers: number;
  readonly poolSize: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly keysFile: string;
}

export async function runDirectPg(o: DirectPgOptions): Promise<LoadResult> {
  const keys = readKeys(o.keysFile);
  const pool = new pg.Pool({ host: o.host, port: o.port, user: o.user, database: o.database, max: o.poolSize, ssl: false });
  pool.on('error', () => undefined);
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
        const r = await pool.query({ name: 'bench_lookup', text: o.sql, values: [key], rowMode: 'array' });
        if (r.rows.length === 1) ok++;
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
  await pool.end();
  return {
    requests: inWindow,
    answered,
    seconds,
    rps: inWindow / seconds,
    latency: hist.toData(),
    ok,
    notFound: 0,
    errors,
    connErrors: 0,
    sample,
  };
}
