/**
 * The mysql module with keys that are not UTF-8, against the real MariaDB: such a key is bound as a binary
 * string, so `\xfe` and `\xff` are two lookups, a VARBINARY or Latin-1 column is matched by its bytes, and
 * binary values come back byte for byte.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysqlModule, { type MysqlDb } from '../../modules/mysql/index.js';
import { bytesToText, keyBytes, type Reply } from '../../src/modules/api.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn, connectServer, needServer, tcpArgs, uniqueName, type Server } from './mysql-fixture.js';

let server: Server | undefined;
let dir: string;
const binTable = uniqueName('smapd_bin');
const latinTable = uniqueName('smapd_l1');
const utfTable = uniqueName('smapd_u8');
const opened: MysqlDb[] = [];

/** A key as a request with these bytes reaches the module. */
const key = (...parts: Array<string | number[]>): string =>
  bytesToText(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))));

async function open(query: string): Promise<MysqlDb> {
  return openDatabase(mysqlModule, [...tcpArgs, `query=${query}`], databaseContext('bytes', [], 'mysql', dir), opened);
}

function ask(db: MysqlDb, k: string): Promise<Reply> {
  return lookUp(mysqlModule, db, 'm', k, conn);
}

describe('mysql module with 8-bit keys', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-mysql-bytes-'));
    server = await connectServer();
    if (server.admin === null) return;
    const a = server.admin;
    await a.query(`CREATE TABLE ${binTable} (k VARBINARY(100) PRIMARY KEY, v VARBINARY(100))`);
    await a.query(`INSERT INTO ${binTable} VALUES (?, ?), (?, ?), (?, ?)`, [
      Buffer.from([0xfe]), 'fe-hit',
      Buffer.from([0xff]), 'ff-hit',
      Buffer.from('raw'), Buffer.from([0xe9, 0xe8]),
    ]);
    await a.query(`CREATE TABLE ${latinTable} (k VARCHAR(100) PRIMARY KEY, v TEXT) CHARACTER SET latin1 COLLATE latin1_bin`);
    // 'café' sent as UTF-8 text is stored as the Latin-1 bytes 63 61 66 e9.
    await a.query(`INSERT INTO ${latinTable} VALUES ('café', 'latin1-hit')`);
    await a.query(`CREATE TABLE ${utfTable} (k VARCHAR(100) PRIMARY KEY, v TEXT) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await a.query(`INSERT INTO ${utfTable} VALUES ('\ufffd', 'replacement-char'), ('café', 'utf8-hit')`);
  });

  after(async () => {
    for (const db of opened) await mysqlModule.closeDb!(db);
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${binTable}, ${latinTable}, ${utfTable}`);
      await server.admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps \\xfe and \\xff apart in a VARBINARY column, and returns binary values exactly', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open(`SELECT v FROM ${binTable} WHERE k = $key`);
    assert.equal(await ask(db, key([0xfe])), 'OK fe-hit');
    assert.equal(await ask(db, key([0xff])), 'OK ff-hit');
    assert.equal(await ask(db, key([0xfd])), 'NOTFOUND ');
    assert.deepEqual(keyBytes(await ask(db, 'raw')), Buffer.from([0x4f, 0x4b, 0x20, 0xe9, 0xe8]));
  });

  it('matches a Latin-1 key against a Latin-1 column by its bytes', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open(`SELECT v FROM ${latinTable} WHERE k = '$key'`);
    assert.equal(await ask(db, key('caf', [0xe9])), 'OK latin1-hit');
    // A UTF-8 key is text, converted to the column's character set as before.
    assert.equal(await ask(db, 'café'), 'OK latin1-hit');
  });

  it('never turns an 8-bit key into U+FFFD in a UTF-8 column', async (t) => {
    if (!needServer(t, server)) return;
    const db = await open(`SELECT v FROM ${utfTable} WHERE k = $key`);
    assert.equal(await ask(db, key([0xfe])), 'NOTFOUND ');
    assert.equal(await ask(db, key('caf', [0xe9])), 'NOTFOUND ');
    assert.equal(await ask(db, 'café'), 'OK utf8-hit');
    assert.equal(await ask(db, '\ufffd'), 'OK replacement-char');
  });
});
