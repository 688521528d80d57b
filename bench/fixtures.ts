/**
 * The data every bench run serves: one text map of `userNNNNN@example.com  value` lines, and the same
 * entries loaded into LevelDB, SQLite and MariaDB, plus the smapd configs that serve them. Everything lives
 * in one temporary directory (removed at the end) and, for MariaDB, one table in the `test` database.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ClassicLevel } from 'classic-level';
import mysql from 'mysql2/promise';
import pg from 'pg';

export const MAP_NAME = 'bench';

export interface Entry {
  readonly key: string;
  readonly value: string;
}

export function makeWorkDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'smapd-bench-'));
}

export function removeWorkDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** `count` entries; keys look like mail addresses, values like alias targets of a realistic length. */
export function makeEntries(count: number): Entry[] {
  const width = Math.max(5, String(count).length);
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(width, '0');
    return { key: `user${n}@example.com`, value: `user${n}@mailbox.example.net` };
  });
}

export function writeTextMap(dir: string, entries: readonly Entry[], name = 'map.txt'): string {
  const file = path.join(dir, name);
  writeFileSync(file, entries.map((e) => `${e.key}  ${e.value}\n`).join(''));
  return file;
}

/** The keys alone, one a line: what sockbench reads (it takes the whole line as the key). */
export function writeKeysFile(dir: string, entries: readonly Entry[], name = 'keys.txt'): string {
  const file = path.join(dir, name);
  writeFileSync(file, entries.map((e) => `${e.key}\n`).join(''));
  return file;
}

/** The table `smapd-makemap --type sqlite` builds, which the sqlite module queries by default. */
export function buildSqlite(dir: string, entries: readonly Entry[]): string {
  const file = path.join(dir, 'map.sqlite');
  const db = new Database(file);
  try {
    db.exec('CREATE TABLE map (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID');
    const insert = db.prepare('INSERT INTO map (key, value) VALUES (?, ?)');
    db.transaction(() => {
      for (const e of entries) insert.run(e.key, e.value);
    })();
  } finally {
    db.close();
  }
  return file;
}

/** A LevelDB directory with one record per entry, key and value as UTF-8 strings. */
export async function buildLevel(dir: string, entries: readonly Entry[]): Promise<string> {
  const location = path.join(dir, 'map.level');
  const db = new ClassicLevel<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  try {
    const step = 10_000;
    for (let i = 0; i < entries.length; i += step) {
      await db.batch(entries.slice(i, i + step).map((e) => ({ type: 'put' as const, key: e.key, value: e.value })));
    }
  } finally {
    await db.close();
  }
  return location;
}

/**
 * The SQL tables of one bench run: `smapd_bench_PID` of the process that started it, passed to the processes it
 * forks (the load generator asks them too) in SMAPD_BENCH_TABLE, so that two benches at once do not fill and
 * drop each other's table.
 */
process.env.SMAPD_BENCH_TABLE ??= `smapd_bench_${process.pid}`;
const BENCH_TABLE = process.env.SMAPD_BENCH_TABLE;

export const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test', table: BENCH_TABLE } as const;

/** Create and fill the MariaDB table; returns why not when the server cannot be reached or used. */
export async function fillMysql(entries: readonly Entry[]): Promise<string | undefined> {
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ host: MYSQL.host, port: MYSQL.port, user: MYSQL.user, database: MYSQL.database, connectTimeout: 3000 });
  } catch (err) {
    return `MariaDB unreachable at ${MYSQL.host}:${MYSQL.port} (${(err as Error).message})`;
  }
  try {
    await conn.query(`DROP TABLE IF EXISTS ${MYSQL.table}`);
    await conn.query(`CREATE TABLE ${MYSQL.table} (k VARCHAR(255) NOT NULL PRIMARY KEY, v VARCHAR(255) NOT NULL) ENGINE=InnoDB`);
    const step = 5000;
    for (let i = 0; i < entries.length; i += step) {
      const rows = entries.slice(i, i + step).map((e) => [e.key, e.value]);
      await conn.query(`INSERT INTO ${MYSQL.table} (k, v) VALUES ?`, [rows]);
    }
    return undefined;
  } catch (err) {
    return `cannot fill ${MYSQL.database}.${MYSQL.table}: ${(err as Error).message}`;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

export async function dropMysql(): Promise<void> {
  try {
    const conn = await mysql.createConnection({ host: MYSQL.host, port: MYSQL.port, user: MYSQL.user, database: MYSQL.database, connectTimeout: 3000 });
    await conn.query(`DROP TABLE IF EXISTS ${MYSQL.table}`);
    await conn.end();
  } catch {
    // Nothing was created, or the server went away; either way there is nothing to clean.
  }
}

export const POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', table: BENCH_TABLE } as const;

/** The lookup both the postgres module and the bare client make. */
export const POSTGRES_SQL = `SELECT v FROM ${POSTGRES.table} WHERE k = $1`;

function postgresClient(): pg.Client {
  const c = new pg.Client({ host: POSTGRES.host, port: POSTGRES.port, user: POSTGRES.user, database: POSTGRES.database, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  return c;
}

/** Create and fill the PostgreSQL table; returns why not when the server cannot be reached or used. */
export async function fillPostgres(entries: readonly Entry[]): Promise<string | undefined> {
  const c = postgresClient();
  try {
    await c.connect();
  } catch (err) {
    return `PostgreSQL unreachable at ${POSTGRES.host}:${POSTGRES.port} (${(err as Error).message})`;
  }
  try {
    await c.query(`DROP TABLE IF EXISTS ${POSTGRES.table}`);
    await c.query(`CREATE TABLE ${POSTGRES.table} (k text PRIMARY KEY, v text NOT NULL)`);
    const step = 5000;
    for (let i = 0; i < entries.length; i += step) {
      const part = entries.slice(i, i + step);
      await c.query(`INSERT INTO ${POSTGRES.table} (k, v) SELECT * FROM unnest($1::text[], $2::text[])`, [part.map((e) => e.key), part.map((e) => e.value)]);
    }
    await c.query(`ANALYZE ${POSTGRES.table}`);
    return undefined;
  } catch (err) {
    return `cannot fill ${POSTGRES.database}.${POSTGRES.table}: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function dropPostgres(): Promise<void> {
  const c = postgresClient();
  try {
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS ${POSTGRES.table}`);
  } catch {
    // Nothing was created, or the server went away; either way there is nothing to clean.
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The `database` arguments of the PostgreSQL runs (the module's default pool-size, 4). */
export function postgresDatabaseArgs(): string {
  const p = POSTGRES;
  return `host=${p.host} port=${p.port} user=${p.user} dbname=${p.database} sslmode=disable query="SELECT v FROM ${p.table} WHERE k = $key"`;
}

/** Whether the build holds built-in module `name` (another helper may not have written it yet). */
export function hasModule(dist: string, name: string): boolean {
  const dir = path.join(dist, 'modules');
  return existsSync(path.join(dir, `${name}.js`)) || existsSync(path.join(dir, name, 'index.js'));
}

export interface ConfigOptions {
  readonly workers?: number;
}

/**
 * A config serving one database as map `bench`, on a port of smapd's choosing. `database` is the rest of a
 * `database db ...` statement, possibly with a block. One rule picks the map, as in a real config; any other
 * map falls through to NOTFOUND.
 */
export function writeConfig(dir: string, name: string, moduleName: string, database: string, opts: ConfigOptions = {}): string {
  const file = path.join(dir, `${name}.conf`);
  const lines = [
    `# smapd bench: ${name}`,
    'server bench inet://127.0.0.1:0',
    // The churn run opens connections faster than they close; the default cap (1024) must not skew it.
    'max-connections 0',
    'backlog 1024',
    `workers ${opts.workers ?? 1}`,
    `module m ${moduleName}`,
    `database db m ${database}`,
    `dispatch map eq ${MAP_NAME} database db`,
    '',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}

/** The `database` arguments of the MariaDB runs. */
export function mysqlDatabaseArgs(): string {
  const m = MYSQL;
  return `host=${m.host} port=${m.port} user=${m.user} database=${m.database} query="SELECT v FROM ${m.table} WHERE k = :key"`;
}
