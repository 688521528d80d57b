/**
 * What the postgres tests share: the real PostgreSQL on this machine (skipped with a message when it is not
 * reachable, failed instead when SMAPD_REQUIRE_DB=1), unique object names, and the connection options that
 * point a database at it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestContext } from 'node:test';

export const PG_HOST = process.env.SMAPD_TEST_PG_HOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.SMAPD_TEST_PG_PORT ?? 5432);
export const PG_USER = process.env.SMAPD_TEST_PG_USER ?? 'postgres';
export const PG_DATABASE = process.env.SMAPD_TEST_PG_DATABASE ?? 'test';

/** Options that point a database at the test server over TCP, with TLS off (the test server has none). */
export function pgArgs(port = PG_PORT, host = PG_HOST, user = PG_USER): string[] {
  return [`host=${host}`, `port=${port}`, `user=${user}`, `dbname=${PG_DATABASE}`, 'sslmode=disable'];
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export interface PgServer {
  /** Why the tests cannot run, or null when the server answered. */
  readonly unavailable: string | null;
  readonly admin: pg.Client | null;
}

export async function connectPg(): Promise<PgServer> {
  const admin = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_USER, database: PG_DATABASE, connectionTimeoutMillis: 3000 });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    return { unavailable: null, admin };
  } catch (err) {
    await admin.end().catch(() => undefined);
    return { unavailable: `PostgreSQL not reachable at ${PG_HOST}:${PG_PORT} (${(err as Error).message || (err as { code?: string }).code})`, admin: null };
  }
}

/** Skip the test when the server is down (or fail, under SMAPD_REQUIRE_DB=1). Returns true when it may run. */
export function needPg(t: TestContext, server: PgServer | undefined): server is PgServer & { admin: pg.Client } {
  if (server !== undefined && server.unavailable === null) return true;
  const why = server?.unavailable ?? 'PostgreSQL not reachable (the before() hook did not run)';
  if (process.env.SMAPD_REQUIRE_DB === '1') throw new Error(`${why}; SMAPD_REQUIRE_DB=1 requires it`);
  t.skip(why);
  return false;
}

/** Queries containing `marker` that are still running on the server (not counting the admin's own). */
export async function runningQueries(admin: pg.Client, marker: string): Promise<number> {
  const r = await admin.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND position($1 in query) > 0",
    [marker],
  );
  return (r.rows[0] as { n: number }).n;
}

/** Cancel the queries containing `marker` still running on the server (not the admin's own). */
export async function cancelQueries(admin: pg.Client, marker: string): Promise<void> {
  await admin.query('SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND position($1 in query) > 0', [marker]);
}

/** Wait until `cond` holds, checking every 25 ms, for at most `ms`; returns whether it held. */
export async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A key-value table `(k text PRIMARY KEY, v text)` holding `box of K` for each of `keys`. */
export async function createBoxTable(admin: pg.Client, table: string, keys: readonly string[]): Promise<void> {
  await admin.query(`CREATE TABLE ${table} (k text PRIMARY KEY, v text)`);
  await admin.query(`INSERT INTO ${table} (k, v) SELECT k, 'box of ' || k FROM unnest($1::text[]) AS k`, [keys]);
}
