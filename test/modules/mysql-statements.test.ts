/**
 * A lookup connection keeps at most MAX_STATEMENTS prepared statements: past that, each new query closes the
 * one prepared longest ago (COM_STMT_CLOSE), so reloads that change a database's query do not pile up
 * statements on the server. Asked of the real MariaDB: the session's own counters of statements prepared and
 * closed, and the answers of closed queries asked again (prepared anew).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_STATEMENTS, MysqlLink } from '../../modules/mysql/link.js';
import type { ResultRow } from '../../modules/sql-common/replies.js';
import { silentLogger } from '../helpers/module-context.js';
import { connectServer, DB_HOST, DB_NAME, DB_PASSWORD, DB_PORT, DB_USER, needServer, type Server } from './mysql-fixture.js';

let server: Server | undefined;
let link: MysqlLink | undefined;

function ask(sql: string, values: string[] = []): Promise<ResultRow | null> {
  return new Promise((resolve, reject) => link!.execute(sql, values, (err, row) => (err ? reject(err) : resolve(row))));
}

/** The statements the server holds for this connection: prepared and not closed (session counters). */
async function held(): Promise<number> {
  const counter = (name: string) => `(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = '${name}')`;
  const row = await ask(`SELECT ${counter('COM_STMT_PREPARE')} - ${counter('COM_STMT_CLOSE')} AS held`);
  return Number(row!.values[0]);
}

describe('mysql connection: prepared statements', () => {
  before(async () => {
    server = await connectServer();
    if (server.admin === null) return;
    const settings = { host: DB_HOST, port: DB_PORT, socketPath: undefined, user: DB_USER, password: DB_PASSWORD, database: DB_NAME, sslCa: undefined, poolSize: 1, connectTimeoutMs: 5000 };
    link = new MysqlLink(settings, undefined, silentLogger, `${DB_HOST}:${DB_PORT}`, () => undefined);
  });

  after(async () => {
    await link?.quit();
    await server?.admin?.end();
  });

  it('closes the oldest statement once it holds MAX_STATEMENTS, and prepares a closed query again when asked', async (t) => {
    if (!needServer(t, server)) return;
    const queries = Array.from({ length: MAX_STATEMENTS * 2 }, (_, i) => `SELECT ? AS k, ${i} AS n`);
    // One after the other, as the queries of a database that reloads change.
    for (let i = 0; i < queries.length; i++) {
      assert.deepEqual(await ask(queries[i]!, [`key${i}`]), { names: ['k', 'n'], values: [`key${i}`, String(i)] });
      assert.ok((await held()) <= MAX_STATEMENTS, `after query ${i}: ${await held()} statements held`);
    }
    // The first query was closed long ago; asking it again prepares it again and answers as before.
    assert.deepEqual(await ask(queries[0]!, ['again']), { names: ['k', 'n'], values: ['again', '0'] });
    assert.equal(await held(), MAX_STATEMENTS);
  });

  it('asked all at once, many new queries are answered each by its own, and the surplus is closed later', async (t) => {
    if (!needServer(t, server)) return;
    const queries = Array.from({ length: MAX_STATEMENTS * 2 }, (_, i) => `SELECT ? AS k, ${i} AS m`);
    // Pipelined: no preparation is answered while they are sent, so none can be closed yet.
    const rows = await Promise.all(queries.map((q, i) => ask(q, [`key${i}`])));
    rows.forEach((row, i) => assert.deepEqual(row, { names: ['k', 'm'], values: [`key${i}`, String(i)] }));
    // The next new query brings the connection back to MAX_STATEMENTS: the surplus goes at once.
    assert.deepEqual(await ask('SELECT ? AS last', ['x']), { names: ['last'], values: ['x'] });
    assert.ok((await held()) <= MAX_STATEMENTS, `${await held()} statements held`);
  });
});
