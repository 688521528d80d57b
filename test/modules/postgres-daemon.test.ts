/**
 * The postgres module inside a real smapd: a GNU Smap style config, keys sent as raw netstring bytes (8-bit,
 * NUL, quotes) reaching PostgreSQL as data, and the database block's timeout cancelling a slow query.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { cancelQueries, connectPg, needPg, PG_DATABASE, PG_HOST, PG_PORT, PG_USER, type PgServer, runningQueries, uniqueName, waitFor } from './postgres-fixture.js';

let server: PgServer | undefined;
let daemon: TestDaemon | undefined;
const table = uniqueName('smapd_pgd');
const marker = uniqueName('smapd_dslow');

const ROWS: [string, string][] = [
  ['café', 'latin'],
  ['日本', 'cjk'],
  ["o'brien", 'quote'],
  ['100%', 'percent'],
  ['a\\b', 'backslash'],
];

describe('postgres module in smapd', () => {
  before(async () => {
    server = await connectPg();
    if (server.admin === null) return;
    await server.admin.query(`CREATE TABLE ${table} (k text PRIMARY KEY, v text)`);
    for (const [k, v] of ROWS) await server.admin.query(`INSERT INTO ${table} VALUES ($1, $2)`, [k, v]);
    const conninfo = `host=${PG_HOST} port=${PG_PORT} user=${PG_USER} dbname=${PG_DATABASE} sslmode=disable`;
    daemon = await startDaemon(`
server main inet://127.0.0.1:0
module pg postgres ${conninfo}
database rows pg "query=SELECT v FROM ${table} WHERE k = '$key'" "positive-reply=OK $v"
database slow pg "query=SELECT pg_sleep(30)::text || '${marker}' || $key" begin
  timeout 500ms
end
dispatch map rows database rows
dispatch map slow database slow
`);
  });

  after(async () => {
    await daemon?.stop();
    if (server?.admin) {
      await cancelQueries(server.admin, marker);
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.end();
    }
  });

  it('finds 8-bit and quoted keys sent as raw bytes, and answers NOTFOUND for keys no text column holds', async (t) => {
    if (!needPg(t, server)) return;
    const c = await daemon!.client();
    for (const [k, v] of ROWS) assert.equal(await c.queryRaw(Buffer.concat([Buffer.from('rows '), Buffer.from(k, 'utf8')])), `OK ${v}`, k);
    // Latin-1 é (not UTF-8), a NUL: no PostgreSQL text equals them, and neither is an error.
    assert.equal(await c.queryRaw(Buffer.from([...Buffer.from('rows caf'), 0xe9])), 'NOTFOUND ');
    assert.equal(await c.queryRaw(Buffer.from('rows caf\0é')), 'NOTFOUND ');
    assert.equal(await c.query('rows', "' OR ''='"), 'NOTFOUND ');
  });

  it("answers TIMEOUT at the database block's timeout and cancels the query on the server", async (t) => {
    if (!needPg(t, server)) return;
    const c = await daemon!.client();
    const started = Date.now();
    assert.match(await c.query('slow', 'x'), /^TIMEOUT /);
    assert.ok(Date.now() - started < 5000);
    assert.ok(await waitFor(async () => (await runningQueries(server!.admin!, marker)) === 0, 5000), 'no query left on the server');
  });
});
