/**
 * The bare-client side of the postgres row: the same lookups smapd's postgres module makes (a named
 * prepared statement, one random key each, array rows), straight from `pg`, with the same concurrency: as
 * many callers as the load generator has connections, sharing a pool of the module's default size. The
 * difference between the two is what smapd costs on top of the driver.
 */
import pg from 'pg';
import { runClosedLoop, type DirectSqlOptions } from './direct-loop.js';
import type { LoadResult } from './loadgen.js';

export type DirectPgOptions = DirectSqlOptions;

export async function runDirectPg(o: DirectPgOptions): Promise<LoadResult> {
  const pool = new pg.Pool({ host: o.host, port: o.port, user: o.user, database: o.database, max: o.poolSize, ssl: false });
  pool.on('error', () => undefined);
  try {
    return await runClosedLoop(o, async (key) => {
      const r = await pool.query({ name: 'bench_lookup', text: o.sql, values: [key], rowMode: 'array' });
      return r.rows.length === 1;
    });
  } finally {
    await pool.end();
  }
}
