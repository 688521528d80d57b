/**
 * The bare-client side of the postgres row: the same lookups smapd's postgres module makes, with the same pg
 * calls (callback API, a named prepared statement, array rows), one random key each, and the same concurrency
 * toward the server: as many callers as the load generator has connections, sharing a pool of the module's
 * default size. The difference between the two is what smapd costs on top of the driver.
 */
import pg from 'pg';
import { runClosedLoop, type DirectSqlOptions } from './direct-loop.js';
import type { LoadResult } from './loadgen.js';

export type DirectPgOptions = DirectSqlOptions;

export async function runDirectPg(o: DirectPgOptions): Promise<LoadResult> {
  const pool = new pg.Pool({ host: o.host, port: o.port, user: o.user, database: o.database, max: o.poolSize, ssl: false });
  pool.on('error', () => undefined);
  const lookup = (key: string): Promise<boolean> =>
    new Promise((resolve, reject) => {
      pool.connect((err, client, release) => {
        if (err || client === undefined) return reject(err ?? new Error('no client'));
        client.query({ name: 'bench_lookup', text: o.sql, values: [key], rowMode: 'array' }, (qerr: Error | null, r: pg.QueryResult) => {
          release(qerr ?? undefined);
          if (qerr) reject(qerr);
          else resolve(r.rows.length === 1);
        });
      });
    });
  try {
    return await runClosedLoop(o, lookup);
  } finally {
    await pool.end();
  }
}
