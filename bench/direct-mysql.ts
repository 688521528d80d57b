/**
 * The bare-client side of the mysql row: the same lookups smapd's mysql module makes, with the same mysql2
 * calls (callback API, a statement each pooled connection prepares once and then executes, rows as arrays),
 * one random key each, and the same concurrency toward the server: as many callers as the load generator has
 * connections, sharing a pool of the module's default `pool-size`. The difference between the two is what
 * smapd costs on top of the driver.
 */
import mysql from 'mysql2';
import { runClosedLoop, type DirectSqlOptions } from './direct-loop.js';
import type { LoadResult } from './loadgen.js';

export type DirectMysqlOptions = DirectSqlOptions;

export async function runDirectMysql(o: DirectMysqlOptions): Promise<LoadResult> {
  const pool = mysql.createPool({ host: o.host, port: o.port, user: o.user, database: o.database, connectionLimit: o.poolSize, maxIdle: o.poolSize, charset: 'utf8mb4', rowsAsArray: true });
  const prepared = new WeakMap<mysql.PoolConnection, mysql.PrepareStatementInfo>();
  const lookup = (key: string): Promise<boolean> =>
    new Promise((resolve, reject) => {
      pool.getConnection((err, conn) => {
        if (err) return reject(err);
        const run = (stmt: mysql.PrepareStatementInfo): void => {
          stmt.execute([key], (qerr: mysql.QueryError | null, rows: unknown) => {
            conn.release();
            if (qerr) reject(qerr);
            else resolve(Array.isArray(rows) && rows.length === 1);
          });
        };
        const stmt = prepared.get(conn);
        if (stmt !== undefined) return run(stmt);
        conn.prepare(o.sql, (perr, made) => {
          if (perr) {
            conn.release();
            return reject(perr);
          }
          prepared.set(conn, made);
          run(made);
        });
      });
    });
  try {
    return await runClosedLoop(o, lookup);
  } finally {
    await new Promise<void>((resolve) => pool.end(() => resolve()));
  }
}
