/**
 * What the mysql tests share: the real MariaDB on this machine (skipped with a message when it is not
 * reachable, failed instead when SMAPD_REQUIRE_DB=1), unique object names, and a TCP relay the tests can cut
 * to play a server outage without stopping the real server, which other tests use.
 */
import { TcpRelay } from '../helpers/tcp-relay.js';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { TestContext } from 'node:test';
import type { ConnInfo } from '../../src/modules/api.js';

export const DB_HOST = process.env.SMAPD_TEST_MYSQL_HOST ?? '127.0.0.1';
export const DB_PORT = Number(process.env.SMAPD_TEST_MYSQL_PORT ?? 3306);
export const DB_USER = process.env.SMAPD_TEST_MYSQL_USER ?? 'root';
export const DB_PASSWORD = process.env.SMAPD_TEST_MYSQL_PASSWORD ?? '';
export const DB_NAME = process.env.SMAPD_TEST_MYSQL_DATABASE ?? 'test';

export const conn: ConnInfo = { serverId: 'main', family: 'inet', src: '192.0.2.7', srcPort: 40000, dst: '127.0.0.1', dstPort: 3145 };

/** Options that point a database at the test server as the admin user, over TCP. */
export const tcpArgs = [`host=${DB_HOST}`, `port=${DB_PORT}`, `user=${DB_USER}`, `password=${DB_PASSWORD}`, `database=${DB_NAME}`, 'config-file='];

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export interface Server {
  /** Why the tests cannot run, or null when the server answered. */
  readonly unavailable: string | null;
  readonly admin: mysql.Connection | null;
}

/** Connect the admin connection, or say why not. */
export async function connectServer(): Promise<Server> {
  try {
    const admin = await mysql.createConnection({
      host: DB_HOST,
      port: DB_PORT,
      user: DB_USER,
      password: DB_PASSWORD,
      database: DB_NAME,
      connectTimeout: 3000,
      multipleStatements: true,
    });
    admin.on('error', () => undefined);
    return { unavailable: null, admin };
  } catch (err) {
    return { unavailable: `MariaDB not reachable at ${DB_HOST}:${DB_PORT} (${(err as Error).message || (err as { code?: string }).code})`, admin: null };
  }
}

/** Skip the test when the server is down (or fail, under SMAPD_REQUIRE_DB=1). Returns true when it may run. */
export function needServer(t: TestContext, server: Server | undefined): server is Server & { admin: mysql.Connection } {
  if (server !== undefined && server.unavailable === null) return true;
  const why = server?.unavailable ?? 'MariaDB not reachable (the before() hook did not run)';
  if (process.env.SMAPD_REQUIRE_DB === '1') throw new Error(`${why}; SMAPD_REQUIRE_DB=1 requires it`);
  t.skip(why);
  return false;
}

/** A TCP relay to the test server that can be cut and restored on the same port. */
export class Relay extends TcpRelay {
  constructor() {
    super(DB_PORT, DB_HOST);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
