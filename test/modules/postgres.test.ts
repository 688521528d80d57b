/** The postgres module against the real PostgreSQL server: lookups, bound keys, options, result shapes. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgresModule, { type PostgresDb } from '../../modules/postgres/index.js';
import { parseEndpoints, resolveSettings } from '../../modules/postgres/settings.js';
import { compilePostgresQuery } from '../../modules/postgres/query.js';
import type { Reply } from '../../src/modules/api.js';
import { BackendError, ModuleArgumentError } from '../../src/errors.js';
import { conn } from './mysql-fixture.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { connectPg, needPg, pgArgs, PG_DATABASE, PG_PORT, PG_USER, uniqueName, type PgServer } from './postgres-fixture.js';

/** Keys that must reach the server as data: quotes, LIKE wildcards, backslashes, globs, parentheses, 8-bit. */
const TRICKY_KEYS = [
  "o'brien",
  "' OR 1=1 --",
  "x'); DROP TABLE t; --",
  'back\\slash',
  "\\' OR '1'='1",
  '"double"',
  '%',
  'a_c',
  '*',
  '(paren)',
  'jdoe)(uid=*',
  'café ünïcødé ✉ 🎉',
  '$key',
  '$1',
  '?',
  ':key',
];

let server: PgServer | undefined;
let dir: string;
const table = uniqueName('smapd_pg');
const opened: PostgresDb[] = [];

async function open(args: string[], moduleArgs: string[] = [], dbId = 'db1'): Promise<PostgresDb> {
  return openDatabase(postgresModule, args, databaseContext(dbId, moduleArgs, 'pg', dir), opened);
}

function ask(db: PostgresDb, key: string, map = 'aliases'): Promise<Reply> {
  return lookUp(postgresModule, db, map, key, conn);
}

const byKey = `query=SELECT value, note FROM ${table} WHERE k = '$key'`;

describe('postgres module', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-pg-'));
    server = await connectPg();
    if (server.admin === null) return;
    const a = server.admin;
    await a.query(`CREATE TABLE ${table} (k text PRIMARY KEY, value text, note text, n bigint, x numeric, d date, ts timestamptz, b boolean)`);
    await a.query(`INSERT INTO ${table} (k, value, note, n, x, d, ts, b) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
      'smith',
      'dmk',
      'n1',
      '9007199254740993',
      '12345678901234567890.000001',
      '2024-02-29',
      '2024-02-29 12:00:00+00',
      true,
    ]);
    await a.query(`INSERT INTO ${table} (k, value, note) VALUES ('nobody', NULL, NULL)`);
    await a.query(`INSERT INTO ${table} (k, value) VALUES ('abc', 'not a_c')`);
    for (const k of TRICKY_KEYS.filter((k) => k !== 'a_c')) await a.query(`INSERT INTO ${table} (k, value) VALUES ($1, $2)`, [k, `value of ${k}`]);
  });

  after(async () => {
    for (const db of opened) await postgresModule.closeDb!(db);
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers from the first row, with column names as reply variables', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...pgArgs(), byKey, 'positive-reply=OK $value [${note}] map=$map key=${key}']);
    assert.equal(await ask(db, 'smith'), 'OK dmk [n1] map=aliases key=smith');
    assert.equal(await ask(db, 'absent'), 'NOTFOUND ');
    const neg = await open([...pgArgs(), byKey, 'negative-reply=NOTFOUND no ${key} in ${map}'], [], 'db2');
    assert.equal(await ask(neg, 'absent', 'm'), 'NOTFOUND no absent in m');
  });

  it('binds every key as data: quotes, wildcards, backslashes, globs, parentheses and 8-bit text find their own row', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...pgArgs(), `query=SELECT value FROM ${table} WHERE k = $key`]);
    for (const k of TRICKY_KEYS.filter((k) => k !== 'a_c')) assert.equal(await ask(db, k), `OK value of ${k}`, `key ${JSON.stringify(k)}`);
    // LIKE wildcards and globs are not wildcards in an equality: a_c is not abc, * is not everything.
    assert.equal(await ask(db, 'a_c'), 'NOTFOUND ');
    assert.equal(await ask(db, 'ab%'), 'NOTFOUND ');
    // The server still holds every row: no key ran as SQL.
    const rows = await server.admin.query(`SELECT count(*)::int AS n FROM ${table}`);
    assert.equal((rows.rows[0] as { n: number }).n, TRICKY_KEYS.length + 2);
  });

  it('answers NOTFOUND for keys PostgreSQL text cannot hold (NUL, invalid UTF-8), without an error', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...pgArgs(), `query=SELECT value FROM ${table} WHERE k = $key`]);
    assert.equal(await ask(db, 'smi\0th'), 'NOTFOUND ');
    assert.equal(await ask(db, 'caf\udce9'), 'NOTFOUND ');
    assert.equal(await ask(db, 'smith'), 'OK dmk');
  });

  it("keeps GNU's quoted '$key', concatenates mixed literals, and numbers each variable once", async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...pgArgs(), `query=SELECT value || '/' || $map FROM ${table} WHERE k = 'sm' || '$key' OR k = '%$key'`]);
    assert.equal(await ask(db, 'ith', 'm1'), 'OK dmk/m1');
    const q = compilePostgresQuery(`SELECT v FROM t WHERE k = $key AND m = :map AND k2 = '$key' AND x = 'a$key'`);
    assert.equal(q.compiled.sql, `SELECT v FROM t WHERE k = $1 AND m = $2 AND k2 = $1 AND x = ('a' || $1::text)`);
    assert.deepEqual(q.order, ['key', 'map']);
    const e = compilePostgresQuery(`SELECT E'it\\'s $key', $$ $key's $$, "col" FROM t WHERE k = $key -- $map`);
    assert.equal(e.compiled.sql, `SELECT (E'it\\'s ' || $1::text), $$ $key's $$, "col" FROM t WHERE k = $1 -- $map`);
    // `?` is a jsonb operator in PostgreSQL, not a placeholder; `::` is a cast, not `:name`.
    assert.equal(compilePostgresQuery(`SELECT d ? 'x' FROM t WHERE k::text = :key`).compiled.sql, `SELECT d ? 'x' FROM t WHERE k::text = $1`);
  });

  it('renders values as the server writes them; NULL is empty', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...pgArgs(), `query=SELECT n, x, d, ts AT TIME ZONE 'UTC' AS ts, b, note FROM ${table} WHERE k = $key`, 'positive-reply=OK $n $x $d $ts $b [$note]']);
    assert.equal(await ask(db, 'smith'), 'OK 9007199254740993 12345678901234567890.000001 2024-02-29 2024-02-29 12:00:00 t [n1]');
    const nul = await open([...pgArgs(), `query=SELECT value FROM ${table} WHERE k = $key`], [], 'db2');
    assert.equal(await ask(nul, 'nobody'), 'OK ');
  });

  it('answers the onerror-reply on an SQL error, and the connection stays usable', async (t) => {
    if (!needPg(t, server)) return;
    const bad = await open([...pgArgs(), `query=SELECT missing_column FROM ${table} WHERE k = $key`, 'pool-size=1']);
    assert.equal(await ask(bad, 'smith'), 'TEMP database error', 'the detail (missing_column) is logged, not sent');
    const failOpen = await open([...pgArgs(), `query=SELECT 1/0 FROM ${table} WHERE k = $key`, 'onerror-reply=NOTFOUND'], [], 'db2');
    assert.equal(await ask(failOpen, 'smith'), 'NOTFOUND ');
    const typed = await open([...pgArgs(), `query=SELECT value FROM ${table} WHERE n = $key`, 'pool-size=1'], [], 'db3');
    assert.equal(await ask(typed, 'not a number'), 'TEMP database error');
    assert.equal(await ask(typed, '9007199254740993'), 'OK dmk', 'the same connection answers the next lookup');
  });

  it("falls back to the module's query and connection; the database's own words win, one by one", async (t) => {
    if (!needPg(t, server)) return;
    const moduleArgs = [...pgArgs(), byKey, 'positive-reply=OK module ${value}'];
    const inherit = await open([], moduleArgs);
    assert.equal(await ask(inherit, 'smith'), 'OK module dmk');
    const own = await open([`query=SELECT note FROM ${table} WHERE k = :key`, 'positive-reply=OK db ${1}'], moduleArgs, 'db2');
    assert.equal(await ask(own, 'smith'), 'OK db n1');
    assert.notEqual(inherit.servers, own.servers, 'each database has its own pools');
  });

  it('reads connection settings from a service file (service=, PGSERVICEFILE)', async (t) => {
    if (!needPg(t, server)) return;
    const file = path.join(dir, 'pg_service.conf');
    writeFileSync(file, `# test\n[other]\nhost=192.0.2.1\n\n[smapd_test]\nhost=127.0.0.1\nport=${PG_PORT}\ndbname=${PG_DATABASE}\nuser=${PG_USER}\nsslmode=disable\n`);
    const saved = process.env.PGSERVICEFILE;
    process.env.PGSERVICEFILE = file;
    try {
      const db = await open(['service=smapd_test', byKey]);
      assert.equal(await ask(db, 'smith'), 'OK dmk');
      assert.throws(() => resolveSettings({ service: 'absent', 'pool-size': 4 }, dir, 'database x'), /service 'absent' not found/);
    } finally {
      if (saved === undefined) delete process.env.PGSERVICEFILE;
      else process.env.PGSERVICEFILE = saved;
    }
  });

  it('sends options= to the server, and reaches it over its unix socket, the default host', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open([...pgArgs(), "query=SELECT current_setting('search_path') || ' ' || $key", 'options=-c search_path=smapd_nowhere,public']);
    assert.equal(await ask(db, 'k'), 'OK smapd_nowhere,public k');
    if (!existsSync(`/var/run/postgresql/.s.PGSQL.${PG_PORT}`)) return;
    const local = await open([`user=${PG_USER}`, `dbname=${PG_DATABASE}`, `port=${PG_PORT}`, byKey], [], 'db2');
    assert.equal(local.settings.endpoints[0]!.label, `/var/run/postgresql/.s.PGSQL.${PG_PORT}`);
    assert.equal(await ask(local, 'smith'), 'OK dmk');
  });

  it('a server that is not there fails the open with the reason', async (t) => {
    if (!needPg(t, server)) return;
    const db = (await postgresModule.initDb([...pgArgs(1), byKey], databaseContext('gone', [], 'pg', dir))) as PostgresDb;
    await assert.rejects(Promise.resolve(postgresModule.openDb!(db)), (e: unknown) => e instanceof BackendError && /^cannot connect to PostgreSQL: .*ECONNREFUSED/.test(e.message));
    await postgresModule.closeDb!(db);
  });

  it('parses libpq host lists', () => {
    const two = parseEndpoints('db1,db2', undefined, '5432,5433', 'x');
    assert.deepEqual(two.map((e) => e.label), ['db1:5432', 'db2:5433']);
    const addr = parseEndpoints('db.example.org', '192.0.2.5', undefined, 'x');
    assert.deepEqual([addr[0]!.host, addr[0]!.address, addr[0]!.port], ['db.example.org', '192.0.2.5', 5432]);
    const sock = parseEndpoints(undefined, undefined, undefined, 'x');
    assert.equal(sock[0]!.label, '/var/run/postgresql/.s.PGSQL.5432');
    assert.equal(sock[0]!.socket, true);
  });

  it('rejects bad arguments when the config is checked', async () => {
    const cases: [string[], RegExp][] = [
      [[...pgArgs()], /query= is required/],
      [[...pgArgs(), byKey, 'sslmode=maybe'], /sslmode must be one of/],
      [[...pgArgs(), byKey, 'krbsrvname=postgres'], /Kerberos/],
      [[...pgArgs(), 'query=SELECT v FROM t WHERE k = $1'], /positional \$N/],
      [[...pgArgs(), 'query=SELECT v FROM t WHERE k = $nokey'], /unknown variable \$nokey/],
      [[...pgArgs(), 'query=SELECT $$ open FROM t WHERE k = $key'], /unterminated \$\$ string/],
      [[...pgArgs(), 'query=SELECT v FROM t WHERE k = "$key"'], /inside the quoted identifier/],
      [[...pgArgs(), 'host=a,b,c', 'port=1,2', byKey], /port lists 2 ports for 3 servers/],
      [[...pgArgs(), byKey, 'sslmode=verify-full'], /needs sslrootcert/],
      [[...pgArgs(), byKey, 'sslrootcert=/nonexistent/root.crt', 'sslmode=verify-ca'], /not readable/],
      [[...pgArgs(), byKey, 'connect_timeout=soon'], /whole number of seconds/],
      [[...pgArgs(), byKey, 'pool-size=0'], /pool-size must be an integer/],
      [[...pgArgs(), byKey, 'bogus=1'], /unknown option 'bogus'/],
    ];
    for (const [args, why] of cases) {
      await assert.rejects(
        Promise.resolve().then(() => postgresModule.initDb(args, databaseContext('bad', [], 'pg', dir))),
        (e: unknown) => e instanceof ModuleArgumentError && why.test(e.message),
        `${args.join(' ')} should fail with ${why}`,
      );
    }
  });
});
