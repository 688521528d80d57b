/**
 * Keys are bytes in every map backend: a map built by smapd-makemap from a file that mixes Latin-1 and UTF-8
 * finds each key by its own bytes (level, sqlite, file), 8-bit values come back exact, `\xfe` and `\xff` stay
 * two keys, and fold-case folds the way Postfix does (Straße = strasse) in the builder and at lookup alike.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import levelModule, { type LevelDbState } from '../../modules/level/index.js';
import sqliteModule, { type SqliteDb } from '../../modules/sqlite/index.js';
import fileModule, { type FileDb } from '../../modules/file/index.js';
import memory from '../../modules/memory/index.js';
import type { MemoryDb } from '../../modules/memory/db.js';
import sed from '../../modules/sed/index.js';
import { makemapMain } from '../../src/cli/makemap.js';
import { streamTextMap } from '../../src/maps/textmap-reader.js';
import { Readable } from 'node:stream';
import { bytesToText, keyBytes, type ConnInfo } from '../../src/modules/api.js';
import { databaseContext } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };

/** A key as a request with these bytes reaches a module. */
const key = (...parts: Array<string | number[]>): string =>
  bytesToText(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))));

const SOURCE = Buffer.concat([
  Buffer.from('caf'),
  Buffer.from([0xe9]),
  Buffer.from(' latin1-hit\n'),
  Buffer.from('café utf8-hit\n'),
  Buffer.from([0xfe]),
  Buffer.from(' fe-hit\n'),
  Buffer.from([0xff]),
  Buffer.from(' ff-hit\n'),
  Buffer.from('bytes-value '),
  Buffer.from([0xe9, 0xe8, 0x80]),
  Buffer.from('\nStraße@Example.DE street\nΟΔΟΣ road\n'),
]);

let dir: string;
const closers: Array<() => unknown> = [];

async function makemap(args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  stdin.end();
  const code = await makemapMain(args, { stdin, stdout, stderr });
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-bytes-'));
  await writeFile(path.join(dir, 'map.txt'), SOURCE);
});
after(async () => {
  for (const close of closers) await close();
  await rm(dir, { recursive: true, force: true });
});

/** The checks every backend must pass; `fold` says whether the map was built and is read with fold-case. */
async function checkLookups(q: (k: string) => Promise<string>, fold: boolean): Promise<void> {
  assert.equal(await q(key('caf', [0xe9])), 'OK latin1-hit');
  assert.equal(await q(key('café')), 'OK utf8-hit');
  assert.equal(await q(key([0xfe])), 'OK fe-hit');
  assert.equal(await q(key([0xff])), 'OK ff-hit');
  assert.equal(await q(key([0xfd])), 'NOTFOUND ');
  assert.equal(await q('caf\ufffd'), 'NOTFOUND ');
  assert.deepEqual(keyBytes(await q('bytes-value')), Buffer.from([0x4f, 0x4b, 0x20, 0xe9, 0xe8, 0x80]));
  if (fold) {
    assert.equal(await q('strasse@example.de'), 'OK street');
    assert.equal(await q('STRASSE@EXAMPLE.DE'), 'OK street');
    assert.equal(await q('οδοσ'), 'OK road');
    assert.equal(await q('οδος'), 'OK road');
    assert.equal(await q(key('CAF', [0xe9])), 'OK latin1-hit', '8-bit bytes stay as they are; ASCII around them folds');
  } else {
    assert.equal(await q('Straße@Example.DE'), 'OK street');
    assert.equal(await q('strasse@example.de'), 'NOTFOUND ');
  }
}

describe('byte-exact keys through smapd-makemap and the map modules', () => {
  for (const fold of [false, true]) {
    const foldArgs = fold ? ['--fold-case'] : [];
    const foldOpt = fold ? ['fold-case'] : [];
    const suffix = fold ? '-fold' : '';

    it(`level${fold ? ' with fold-case' : ''}`, async () => {
      const out = path.join(dir, `map${suffix}.ldb`);
      const built = await makemap([...foldArgs, '--type', 'level', path.join(dir, 'map.txt'), out]);
      assert.equal(built.code, 0, built.stderr);
      for (const read of ['async', 'sync']) {
        const s = levelModule.initDb([`path=${out}`, `read=${read}`, ...foldOpt], databaseContext('l', [], 'level', dir)) as LevelDbState;
        closers.push(() => levelModule.closeDb!(s));
        await levelModule.openDb!(s);
        await checkLookups(async (k) => (await levelModule.query!(s, 'm', k, conn)) as string, fold);
        await levelModule.closeDb!(s);
      }
    });

    it(`sqlite${fold ? ' with fold-case' : ''}`, async () => {
      const out = path.join(dir, `map${suffix}.db`);
      const built = await makemap([...foldArgs, '--type', 'sqlite', path.join(dir, 'map.txt'), out]);
      assert.equal(built.code, 0, built.stderr);
      const s = sqliteModule.initDb([`file=${out}`], databaseContext('s', [], 'sqlite', dir)) as SqliteDb;
      closers.push(() => sqliteModule.closeDb!(s));
      await sqliteModule.openDb!(s);
      // The sqlite module has no fold-case of its own: a folded map is asked with the folded key.
      const { foldCase } = await import('../../src/modules/api.js');
      await checkLookups(async (k) => (await sqliteModule.query!(s, 'm', fold ? foldCase(k) : k, conn)) as string, fold);
    });

    it(`file${fold ? ' with fold-case' : ''}`, async () => {
      const s = fileModule.initDb([`file=${path.join(dir, 'map.txt')}`, ...foldOpt], databaseContext('f', [], 'file', dir)) as FileDb;
      closers.push(() => fileModule.closeDb!(s));
      await fileModule.openDb!(s);
      await checkLookups(async (k) => (await fileModule.query!(s, 'm', k, conn)) as string, fold);
    });
  }

  it('dumps 8-bit keys and values as their bytes, so a dump rebuilds the same map', async () => {
    for (const type of ['level', 'sqlite']) {
      const out = path.join(dir, `dump.${type}`);
      assert.equal((await makemap(['--type', type, path.join(dir, 'map.txt'), out])).code, 0);
      const dumped = await makemap(['--dump', type, out]);
      assert.equal(dumped.code, 0, dumped.stderr);
      const lines = dumped.stdout.toString('latin1').split('\n');
      assert.ok(lines.includes('caf\xe9\tlatin1-hit'), `${type}: ${JSON.stringify(lines)}`);
      assert.ok(lines.includes('\xfe\tfe-hit') && lines.includes('\xff\tff-hit'));
      assert.ok(lines.includes('bytes-value\t\xe9\xe8\x80'));
      assert.ok(dumped.stdout.includes(Buffer.from('café\tutf8-hit\n')));
    }
  });

  it('sqlite binds a non-UTF-8 key as a BLOB, so a hand-made table with BLOB keys answers it', async () => {
    const file = path.join(dir, 'hand.db');
    const db = new Database(file);
    db.exec('CREATE TABLE users (name BLOB PRIMARY KEY, mailbox TEXT)');
    db.prepare('INSERT INTO users VALUES (?, ?)').run(Buffer.from([0x6a, 0xfc, 0x72, 0x67]), 'juergen');
    db.prepare('INSERT INTO users VALUES (?, ?)').run('jürg', 'utf8-juergen');
    db.close();
    const s = sqliteModule.initDb([`file=${file}`, 'query=SELECT mailbox FROM users WHERE name = :key'], databaseContext('h', [], 'sqlite', dir)) as SqliteDb;
    closers.push(() => sqliteModule.closeDb!(s));
    await sqliteModule.openDb!(s);
    assert.equal(await sqliteModule.query!(s, 'm', key('j', [0xfc], 'rg'), conn), 'OK juergen');
    assert.equal(await sqliteModule.query!(s, 'm', key('jürg'), conn), 'OK utf8-juergen');
    assert.equal(await sqliteModule.query!(s, 'm', key([0xfc]), conn), 'NOTFOUND ');
  });

  it('sqlite: a hand-made table holding Latin-1 bytes as TEXT answers with CAST(:key AS TEXT), as documented', async () => {
    const file = path.join(dir, 'latin-text.db');
    const db = new Database(file);
    db.exec('CREATE TABLE users (name TEXT PRIMARY KEY, mailbox TEXT)');
    db.exec("INSERT INTO users VALUES (CAST(x'6afc7267' AS TEXT), 'juergen'), ('jürg', 'utf8-juergen')");
    db.close();
    const s = sqliteModule.initDb([`file=${file}`, 'query=SELECT mailbox FROM users WHERE name = CAST(:key AS TEXT)'], databaseContext('t', [], 'sqlite', dir)) as SqliteDb;
    closers.push(() => sqliteModule.closeDb!(s));
    await sqliteModule.openDb!(s);
    assert.equal(await sqliteModule.query!(s, 'm', key('j', [0xfc], 'rg'), conn), 'OK juergen');
    assert.equal(await sqliteModule.query!(s, 'm', 'jürg', conn), 'OK utf8-juergen');
    assert.equal(await sqliteModule.query!(s, 'm', key([0xfc]), conn), 'NOTFOUND ');
  });

  it('memory: 8-bit keys bound apart, folded like Postfix, and kept exactly through a snapshot', async () => {
    const open = async (): Promise<MemoryDb> => {
      const db = await memory.initDb(['capacity=10', 'snapshot=bytes.snap', 'fold-case'], databaseContext('mem', [], 'memory', dir));
      await memory.openDb!(db);
      return db;
    };
    const db = await open();
    const bind = (k: string, v: string) => memory.commands!['bind']!.run(db, [k, v]);
    await bind(key([0xfe]), 'fe-hit');
    await bind(key([0xff]), 'ff-hit');
    await bind('Straße', 'street');
    assert.equal(memory.query!(db, 'm', key([0xfe]), conn), 'OK fe-hit');
    assert.equal(memory.query!(db, 'm', key([0xff]), conn), 'OK ff-hit');
    assert.equal(memory.query!(db, 'm', 'STRASSE', conn), 'OK street');
    await memory.closeDb!(db);
    const again = await open();
    closers.push(() => memory.closeDb!(again));
    assert.equal(memory.query!(again, 'm', key([0xfe]), conn), 'OK fe-hit');
    assert.equal(memory.query!(again, 'm', key([0xff]), conn), 'OK ff-hit');
    assert.equal(memory.query!(again, 'm', 'strasse', conn), 'OK street');
  });

  it('sed rewrites around 8-bit bytes and gives them back', async () => {
    const db = await sed.initDb(['s/^/x-/'], databaseContext('sed', [], 'sed', dir));
    assert.deepEqual(keyBytes(sed.query!(db, 'm', key('caf', [0xe9]), conn) as string), Buffer.from([0x4f, 0x4b, 0x20, 0x78, 0x2d, 0x63, 0x61, 0x66, 0xe9]));
    // Each 8-bit byte is one character to the expression.
    const dot = await sed.initDb(['s/^caf.$/hit/'], databaseContext('sed', [], 'sed', dir));
    assert.equal(sed.query!(dot, 'm', key('caf', [0xe9]), conn), 'OK hit');
    assert.equal(sed.query!(dot, 'm', key('caf', [0xc3]), conn), 'OK hit');
  });

  it('reads a text map the same however its bytes are split into chunks', async () => {
    const whole: Array<[string, string]> = [];
    await streamTextMap(Readable.from([SOURCE]), 'whole', (k, v) => whole.push([k, v]));
    const bytewise: Array<[string, string]> = [];
    const oneByteChunks = Array.from(SOURCE, (b) => Buffer.from([b]));
    await streamTextMap(Readable.from(oneByteChunks), 'bytewise', (k, v) => bytewise.push([k, v]));
    assert.deepEqual(bytewise, whole);
    assert.deepEqual(whole[0], [key('caf', [0xe9]), 'latin1-hit']);
    assert.deepEqual(whole[1], ['café', 'utf8-hit']);
  });

  it('level keys=sublevel finds 8-bit keys in the sublevel of the map name', async () => {
    const out = path.join(dir, 'sub.ldb');
    const built = await makemap(['--type', 'level', '--map', `latin=${path.join(dir, 'map.txt')}`, out]);
    assert.equal(built.code, 0, built.stderr);
    const s = levelModule.initDb([`path=${out}`, 'keys=sublevel'], databaseContext('l', [], 'level', dir)) as LevelDbState;
    closers.push(() => levelModule.closeDb!(s));
    await levelModule.openDb!(s);
    const q = async (map: string, k: string): Promise<string> => (await levelModule.query!(s, map, k, conn)) as string;
    assert.equal(await q('latin', key('caf', [0xe9])), 'OK latin1-hit');
    assert.equal(await q('latin', key([0xfe])), 'OK fe-hit');
    assert.equal(await q('latin', key([0xff])), 'OK ff-hit');
    assert.equal(await q('other', key([0xff])), 'NOTFOUND ');
  });
});
