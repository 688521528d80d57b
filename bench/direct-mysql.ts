/**
 * The bare-client side of the mysql row: the same lookups smapd's mysql module makes (a prepared statement
 * by `execute`, one random key each, rows as arrays), straight from `mysql2`, with the same concurrency: as
 * many callers as the load generator has connections, sharing a pool of the module's default `pool-size`.
 * The difference between the two is what smapd costs on top of the driver.
 */
import mysql from 'mysql2/promise';
import { runClosedLoop, type DirectSqlOptions } from './direct-loop.js';
import type { LoadResult } from './loadgen.js';

export type DirectMysqlOptions = DirectSqlOptions;

export async function runDirectMysql(o: DirectMysqlOptions): Promise<LoadResult> {
  const pool = mysql.createPool({ host: o.host, port: o.port, user: o.user, database: o.database, connectionLimit: o.poolSize, maxIdle: o.poolSize, charset: 'utf8mb4' });
  try {
    return await runClosedLoop(o, async (key) => {
      const [rows] = await pool.execute({ sql: o.sql, values: [key], rowsAsArray: true });
      return Array.isArray(rows) && rows.length === 1;
    });
  } finally {
    await pool.end();
  }
}
