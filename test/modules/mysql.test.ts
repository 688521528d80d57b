/** The mysql module against the real MariaDB server: lookups, options, my.cnf, result shapes. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysqlModule, { pools, type MysqlDb } from '../../modules/mysql/index.js';
import type { Reply } from '../../src/modules/api.js';
import { BackendError, ModuleArgumentError } from '../../src/errors.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn, connectServer, DB_NAME, DB_PASSWORD, DB_PORT, DB_USER, needServer, tcpArgs, uniqueName, type Server } from './mysql-fixture.js';

const TRICKY_KEYS = [
  "o'brien",
  "' OR 1=1 --",
  "x'); DROP TABLE t; --",
  'back\\slash',
  "\\' OR '1'='1",
  '"double"',
  'ünïcødé ✉ 🎉',
  '?',
  '$key',
  '%',
];

let server: Server | undefined;
let dir: string;
const table = uniqueName('smapd_t');
const proc = uniqueName('smapd_p');
const opened: MysqlDb[] = [];

async function open(args: string[], moduleArgs: string[] = [], dbId = 'db1'): Promise<MysqlDb> {
  return openDatabase(mysqlModule, args, databaseContext(dbId, moduleArgs, 'mysql', dir), opened);
}

function ask(db: MysqlDb, key: string, map = 'aliases'): Promise<Reply> {
  return lookUp(mysqlModule, db, map, key, conn);
}

const byKey = `query=SELECT value, note FROM ${table} WHERE k = '$key'`;

describe('mysql module', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-mysql-'));
    server = await connectServer();
    if (server.admin === null) return;
    const a = server.admin;
    await a.query(`CREATE TABLE ${table} (k VARCHAR(190) PRIMARY KEY, value TEXT, note TEXT, n BIGINT, d DATE) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await a.query(`INSERT INTO ${table} (k, value, note, n, d) VALUES (?, ?, ?, ?, ?)`, ['smith', 'dmk', 'n1', '9007199254740993', '2024-02-29']);
    await a.query(`INSERT INTO ${table} (k, value, note) VALUES ('nobody', NULL, NULL)`);
    for (const k of TRICKY_KEYS) await a.query(`INSERT INTO ${table} (k, value) VALUES (?, ?)`, [k, `value of ${k}`]);
    await a.query(`CREATE PROCEDURE ${proc}(IN key_in VARCHAR(190))
      BEGIN
        SELECT value, 'first' AS which FROM ${table} WHERE k = key_in;
        SELECT 'second set' AS value, 'second' AS which;
      END`);
  });

  after(async () => {
    for (const db of opened) await mysqlModule.closeDb!(db);
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.query(`DROP PROCEDURE IF EXISTS ${proc}`);
      await server.admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('looks up over TCP with the default `OK ${1}` and NOTFOUND', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([...tcpArgs, byKey]);
    assert.equal(await ask(db, 'smith'), 'OK dmk');
    assert.equal(await ask(db, 'nobody-here'), 'NOTFOUND ');
  });

  it('looks up over the unix socket', async (t) => {
    if (!needServer(t, server)) return;
    const [rows] = await server.admin.query('SELECT @@socket AS s');
    const socket = (rows as { s: string }[])[0]!.s;
    const db = await open(['config-file=', `socket=${socket}`, `user=${DB_USER}`, `password=${DB_PASSWORD}`, `database=${DB_NAME}`, byKey]);
    assert.equal(db.settings.socketPath, socket);
    assert.equal(db.settings.host, undefined);
    assert.equal(await ask(db, 'smith'), 'OK dmk');
  });

  it('renders NULL columns as empty text, big numbers and dates exactly', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([
      ...tcpArgs,
      `query=SELECT value, note, n, d FROM ${table} WHERE k = $key`,
      'positive-reply=OK v=[${value}] note=[${NOTE}] n=${3} d=${d} map=$map src=$src',
    ]);
    assert.equal(await ask(db, 'nobody', 'm1'), 'OK v=[] note=[] n= d= map=m1 src=192.0.2.7');
    assert.equal(await ask(db, 'smith', 'm1'), 'OK v=[dmk] note=[n1] n=9007199254740993 d=2024-02-29 map=m1 src=192.0.2.7');
  });

  it('looks up quotes, backslashes, unicode and injection attempts literally', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([...tcpArgs, byKey]);
    for (const k of TRICKY_KEYS) assert.equal(await ask(db, k), `OK value of ${k}`, k);
    assert.equal(await ask(db, "nothing' OR '1'='1"), 'NOTFOUND ');
    assert.equal(await ask(db, "smith' -- "), 'NOTFOUND ');
    const [rows] = await server.admin.query(`SELECT COUNT(*) AS c FROM ${table}`);
    assert.equal(Number((rows as { c: number }[])[0]!.c), TRICKY_KEYS.length + 2, 'the table is intact');
  });

  it('turns a GNU literal that mixes text and $key into CONCAT', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([...tcpArgs, `query=SELECT value FROM ${table} WHERE k LIKE 'smi$key'`]);
    assert.equal(await ask(db, 'th'), 'OK dmk');
    assert.equal(await ask(db, "th' OR 'a'='a"), 'NOTFOUND ');
  });

  it('uses the first result set of a stored procedure (CLIENT_MULTI_RESULTS)', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([...tcpArgs, `query=CALL ${proc}($key)`, 'positive-reply=OK ${value} from ${which}']);
    assert.equal(await ask(db, 'smith'), 'OK dmk from first');
    assert.equal(await ask(db, 'absent'), 'NOTFOUND ');
    assert.equal(await ask(db, 'smith'), 'OK dmk from first', 'the connection is usable after the extra sets');
  });

  it("falls back to the module's query and replies; the database's own arguments win", async (t) => {
    if (!needServer(t, server)) return;
    const moduleArgs = [...tcpArgs, byKey, 'positive-reply=OK module ${value}'];
    const inherit = await open([], moduleArgs);
    assert.equal(await ask(inherit, 'smith'), 'OK module dmk');
    const own = await open([`query=SELECT note FROM ${table} WHERE k = :key`, 'positive-reply=OK db ${1}'], moduleArgs, 'db2');
    assert.equal(await ask(own, 'smith'), 'OK db n1');
    assert.notEqual(inherit.pool, own.pool, 'each database has a pool of its own, even with equal connection settings');
  });

  it('takes connection settings from my.cnf: [client], then config-group, then smapd.conf options', async (t) => {
    if (!needServer(t, server)) return;
    const cnf = path.join(dir, 'my.cnf');
    writeFileSync(
      cnf,
      [
        '# smapd test option file',
        '[client]',
        'host = 127.0.0.1',
        'port = 1            # overridden by [smapd]',
        `user = ${DB_USER}`,
        'database = no_such_database',
        '',
        '[mysqld]',
        'port = 9',
        '',
        '[smapd]',
        `port = ${DB_PORT}`,
        `password = "${DB_PASSWORD}"`,
        `loose_database = '${DB_NAME}'`,
      ].join('\n'),
    );
    const db = await open(['config-file=my.cnf', 'config-group=smapd', byKey]);
    assert.equal(db.settings.port, DB_PORT);
    assert.equal(db.settings.database, DB_NAME);
    assert.equal(await ask(db, 'smith'), 'OK dmk');
    const clientOnly = (await mysqlModule.initDb(['config-file=my.cnf', byKey, 'port=4'], databaseContext('db2', [], 'mysql', dir))) as MysqlDb;
    assert.equal(clientOnly.settings.port, 4, 'an explicit option beats the file');
    assert.equal(clientOnly.settings.database, 'no_such_database', '[client] alone when no group is named');
  });

  it('answers the onerror reply, with the short reason (detail in the log only), on an SQL error', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open([...tcpArgs, `query=SELECT nosuchcolumn FROM ${table} WHERE k = $key`, 'onerror-reply=TEMP [${key}] ${error}']);
    assert.equal(await ask(db, 'smith'), 'TEMP [smith] database error');
    const plain = await open([...tcpArgs, `query=SELECT nosuchcolumn FROM ${table} WHERE k = $key`]);
    assert.equal(await ask(plain, 'smith'), 'TEMP database error');
  });

  it('fails the open with a non-empty reason when nothing listens on the port', async (t) => {
    if (!needServer(t, server)) return;
    const before = pools.size;
    const db = (await mysqlModule.initDb(['host=127.0.0.1', 'port=1', 'config-file=', byKey], databaseContext())) as MysqlDb;
    await assert.rejects(Promise.resolve(mysqlModule.openDb!(db)), (e: unknown) => {
      return e instanceof BackendError && /^cannot connect to MySQL at 127\.0\.0\.1:1: .*ECONNREFUSED/.test(e.message);
    });
    assert.equal(pools.size, before, 'the failed pool was not kept');
    await assert.rejects(Promise.resolve(mysqlModule.openDb!(db)), BackendError, 'open can be retried');
  });

  it('rejects bad arguments at initDb with a clear message, without connecting', async () => {
    const ctx = () => databaseContext('bad', [], 'mysql', dir);
    const bad: [string[], RegExp][] = [
      [['config-file='], /query= is required/],
      [['config-file=', 'query=SELECT 1 WHERE ? = 1'], /positional \?/],
      [['config-file=', byKey, 'port=70000'], /port must be 1-65535/],
      [['config-file=', byKey, 'port=http'], /'port' must be a number/],
      [['config-file=', byKey, 'pool-size=0'], /pool-size must be an integer/],
      [['config-file=', byKey, 'timeout=fast'], /'timeout' must be a duration/],
      [['config-file=', byKey, 'ssl-ca=/nonexistent/ca.pem'], /ssl-ca file .* is not readable/],
      [['config-file=/nonexistent/my.cnf', byKey], /cannot read option file \/nonexistent\/my\.cnf/],
      [['config-file=', 'config-group=smapd', byKey], /config-group=smapd needs an option file/],
      [['config-file=', byKey, 'negative-reply=NOTFOUND ${value}'], /negative-reply: unknown variable \$\{value\} \(available: \$\{key\}, \$\{map\}/],
      [['config-file=', byKey, 'hostname=x'], /unknown option 'hostname'/],
    ];
    for (const [args, why] of bad) {
      await assert.rejects(
        Promise.resolve().then(() => mysqlModule.initDb(args, ctx())),
        (e: unknown) => e instanceof ModuleArgumentError && why.test(e.message),
        args.join(' '),
      );
    }
  });
});
