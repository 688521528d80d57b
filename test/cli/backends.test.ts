/**
 * Real databases served end to end by `smapd -f -c FILE`: a LevelDB directory and an SQLite file built with
 * smapd-makemap, and a MariaDB table; the database block's `timeout`; and a reload that closes the databases
 * of the old configuration once no connection uses them (seen in the process's open files).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { spawnSmapd, stopAll } from '../helpers/spawned.js';
import { connectServer, DB_HOST, DB_NAME, DB_PASSWORD, DB_PORT, DB_USER, needServer, uniqueName, type Server } from '../modules/mysql-fixture.js';

const MAKEMAP = path.resolve(import.meta.dirname, '../../src/cli/makemap.js');

let dir: string;
let server: Server | undefined;
const table = uniqueName('smapd_e2e');

function makemap(args: string[]): void {
  const r = spawnSync(process.execPath, [MAKEMAP, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** The files process `pid` has open. */
function openFiles(pid: number): string[] {
  const fds = `/proc/${pid}/fd`;
  return readdirSync(fds).flatMap((fd) => {
    try {
      return [readlinkSync(path.join(fds, fd))];
    } catch {
      return [];
    }
  });
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapd-e2e-'));
  writeFileSync(path.join(dir, 'one.txt'), 'alice alice@one.example\nbob bob@one.example\n');
  writeFileSync(path.join(dir, 'two.txt'), 'alice alice@two.example\n');
  makemap([path.join(dir, 'one.txt'), path.join(dir, 'one.ldb')]);
  makemap([path.join(dir, 'two.txt'), path.join(dir, 'two.ldb')]);
  makemap(['--type', 'sqlite', path.join(dir, 'one.txt'), path.join(dir, 'one.db')]);
  makemap(['--type', 'sqlite', path.join(dir, 'two.txt'), path.join(dir, 'two.db')]);
  server = await connectServer();
  if (server.admin !== null) {
    await server.admin.query(`CREATE TABLE ${table} (k VARCHAR(100) PRIMARY KEY, v TEXT)`);
    await server.admin.query(`INSERT INTO ${table} VALUES ('alice', 'alice@mysql.example'), ('bob', 'bob@mysql.example')`);
  }
});

after(async () => {
  await stopAll();
  if (server?.admin) {
    await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
    await server.admin.end();
  }
  rmSync(dir, { recursive: true, force: true });
});

function config(which: 'one' | 'two'): string {
  return [
    'server tcp inet://127.0.0.1:0',
    'module level level',
    'module sqlite sqlite',
    'module t testmod',
    `database lv level path=${dir}/${which}.ldb`,
    `database sq sqlite file=${dir}/${which}.db`,
    'database slow t begin',
    '  timeout 300ms',
    'end',
    'dispatch map level database lv',
    'dispatch map sqlite database sq',
    'dispatch map slow database slow',
    '',
  ].join('\n');
}

describe('real databases through smapd -f -c FILE', () => {
  it('serves LevelDB and SQLite maps, and the database timeout answers TIMEOUT', async () => {
    const d = spawnSmapd(config('one'));
    const c = await SmapClient.connect({ url: await d.address('tcp'), timeoutMs: 10_000 });
    try {
      assert.equal(await c.query('level', 'alice'), 'OK alice@one.example');
      assert.equal(await c.query('level', 'carol'), 'NOTFOUND ');
      assert.equal(await c.query('sqlite', 'bob'), 'OK bob@one.example');
      assert.equal(await c.query('sqlite', 'carol'), 'NOTFOUND ');
      const started = Date.now();
      assert.equal(await c.query('slow', 'sleep:30000'), 'TIMEOUT database timeout');
      const took = Date.now() - started;
      assert.ok(took >= 280 && took < 10_000, `TIMEOUT after ${took} ms`);
      // The connection goes on; a lookup inside the timeout is answered.
      assert.equal(await c.query('slow', 'sleep:10'), 'OK slept 10');
    } finally {
      await c.close();
    }
    assert.equal(await d.stop(), 0, d.stderr());
  });

  it('a reload serves the new databases and closes the old ones once their last connection is gone', async () => {
    const d = spawnSmapd(config('one'));
    const url = await d.address('tcp');
    const old = await SmapClient.connect({ url, timeoutMs: 10_000 });
    assert.equal(await old.query('sqlite', 'alice'), 'OK alice@one.example');
    assert.equal(await old.query('level', 'alice'), 'OK alice@one.example');
    const isOld = (f: string) => f === path.join(dir, 'one.db') || f.startsWith(path.join(dir, 'one.ldb') + '/');
    assert.ok(openFiles(d.pid).some(isOld), 'the first databases are open');

    d.rewriteConfig(config('two'));
    const from = d.lines.length;
    d.process.kill('SIGHUP');
    await d.waitForLog(/^configuration reloaded$/, 15_000, from);
    const fresh = await SmapClient.connect({ url, timeoutMs: 10_000 });
    assert.equal(await fresh.query('sqlite', 'alice'), 'OK alice@two.example');
    assert.equal(await fresh.query('level', 'alice'), 'OK alice@two.example');
    // The connection opened before the reload finishes on the old configuration, which stays open for it.
    assert.equal(await old.query('sqlite', 'bob'), 'OK bob@one.example');
    assert.ok(openFiles(d.pid).some(isOld), 'the old databases stay open while a connection uses them');
    await old.close();
    await until(() => !openFiles(d.pid).some(isOld), 'the old SQLite file and LevelDB directory to be closed');
    assert.equal(await fresh.query('level', 'bob'), 'NOTFOUND ');
    await fresh.close();
    assert.equal(await d.stop(), 0, d.stderr());
  });

  it('serves a MariaDB table', async (t) => {
    if (!needServer(t, server)) return;
    const d = spawnSmapd(
      [
        'server tcp inet://127.0.0.1:0',
        'module mysql mysql',
        `database my mysql host=${DB_HOST} port=${DB_PORT} user=${DB_USER} password=${DB_PASSWORD} database=${DB_NAME} config-file= query='SELECT v FROM ${table} WHERE k = $key'`,
        'dispatch default database my',
        '',
      ].join('\n'),
    );
    const c = await SmapClient.connect({ url: await d.address('tcp'), timeoutMs: 10_000 });
    try {
      assert.deepEqual(await Promise.all(['alice', 'bob', 'carol'].map((k) => c.query('aliases', k))), [
        'OK alice@mysql.example',
        'OK bob@mysql.example',
        'NOTFOUND ',
      ]);
      // The key goes to SQL as a bound parameter, never as text.
      assert.equal(await c.query('aliases', "x' OR '1'='1"), 'NOTFOUND ');
    } finally {
      await c.close();
    }
    assert.equal(await d.stop(), 0, d.stderr());
  });
});
