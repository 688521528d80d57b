import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import levelModule, { type LevelDbState } from '../../modules/level/index.js';
import { makemapMain } from '../../src/cli/makemap.js';
import type { ConnInfo } from '../../src/modules/api.js';
import { BackendError, ModuleArgumentError } from '../../src/errors.js';
import { databaseContext } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };

let dir: string;
let plainDir: string;
const toClose: LevelDbState[] = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-level-'));
  plainDir = path.join(dir, 'plain.ldb');
  const db = new ClassicLevel<string, string>(plainDir);
  await db.batch([
    { type: 'put', key: 'alice', value: 'alice@example.org' },
    { type: 'put', key: 'Mixed', value: 'stored mixed' },
    { type: 'put', key: 'mixed', value: 'stored lower' },
    { type: 'put', key: 'utf8-ключ', value: 'значение' },
  ]);
  await db.close();
});
after(async () => {
  for (const s of toClose) await levelModule.closeDb!(s);
  await rm(dir, { recursive: true, force: true });
});

function init(args: string[]): LevelDbState {
  const s = levelModule.initDb(args, databaseContext('ldb', [], 'level', dir)) as LevelDbState;
  toClose.push(s);
  return s;
}

async function opened(args: string[]): Promise<LevelDbState> {
  const s = init(args);
  await levelModule.openDb!(s);
  return s;
}

async function q(s: LevelDbState, key: string, map = 'aliases'): Promise<string> {
  return (await levelModule.query!(s, map, key, conn)) as string;
}

describe('level module', () => {
  it('declares that a LevelDB handle cannot be shared between processes', () => {
    assert.equal(levelModule.multiProcess, false);
  });

  it('validates arguments without touching the disk', () => {
    const ctx = databaseContext('ldb', [], 'level', dir);
    assert.throws(() => levelModule.initDb([], ctx), (e: unknown) => e instanceof ModuleArgumentError && /missing path=DIR/.test(e.message));
    assert.throws(() => levelModule.initDb(['/var/db'], ctx), /did you mean path=\/var\/db\?/);
    assert.throws(() => levelModule.initDb(['path=x', 'keys=prefixed'], ctx), /keys.*one of plain, sublevel/);
    assert.throws(() => levelModule.initDb(['path=does-not-exist'], ctx), /LevelDB directory .*does-not-exist does not exist: every lookup would answer TEMP \(add allow-missing/);
    assert.doesNotThrow(() => levelModule.initDb(['path=does-not-exist', 'allow-missing'], ctx));
  });

  it('answers hits, misses and UTF-8 keys; path= is relative to the config directory', async () => {
    const s = await opened(['path=plain.ldb']);
    assert.equal(s.location, plainDir);
    assert.equal(await q(s, 'alice'), 'OK alice@example.org');
    assert.equal(await q(s, 'utf8-ключ'), 'OK значение');
    assert.equal(await q(s, 'bob'), 'NOTFOUND ');
    assert.equal(await q(s, 'Mixed'), 'OK stored mixed');
  });

  it('lowercases lookups with fold-case, and applies nomore and templates', async () => {
    const s = await opened([`path=${plainDir}`, 'fold-case', 'nomore', 'positive-reply=OK ${value} [${map}/${key}->${matched}]']);
    assert.equal(await q(s, 'MIXED', 'm'), 'OK stored lower [m/MIXED->mixed]');
    assert.equal(await q(s, 'nobody'), 'NOMORE ');
  });

  it('shares one handle between databases on the same directory, closing it with the last', async () => {
    const a = await opened([`path=${plainDir}`]);
    const b = await opened([`path=${plainDir}`, 'negative-reply=NOTFOUND none']);
    assert.equal(a.db, b.db);
    assert.equal(await q(b, 'x'), 'NOTFOUND none');
    await levelModule.closeDb!(a);
    assert.equal(await q(b, 'alice'), 'OK alice@example.org');
    assert.throws(() => levelModule.query!(a, 'm', 'alice', conn), BackendError);
  });

  it('fails to open a missing directory with BackendError, and opens once it exists', async () => {
    const s = init(['path=later.ldb', 'allow-missing']);
    await assert.rejects(
      Promise.resolve(levelModule.openDb!(s)),
      (e: unknown) => e instanceof BackendError && e.message.includes(path.join(dir, 'later.ldb')) && /does not exist/.test(e.message),
    );
    assert.equal(s.db, null);
    const made = new ClassicLevel<string, string>(path.join(dir, 'later.ldb'));
    await made.put('k', 'v');
    await made.close();
    await levelModule.openDb!(s);
    assert.equal(await q(s, 'k'), 'OK v');
  });

  it('reports a directory locked by another handle as a BackendError that names the likely cause', async () => {
    const lockedDir = path.join(dir, 'locked.ldb');
    const holder = new ClassicLevel<string, string>(lockedDir);
    await holder.open();
    try {
      const s = init([`path=${lockedDir}`]);
      await assert.rejects(Promise.resolve(levelModule.openDb!(s)), (e: unknown) => e instanceof BackendError && /lock/i.test(e.message));
    } finally {
      await holder.close();
    }
  });

  it('looks keys up in the sublevel named after the map with keys=sublevel (built by smapd-makemap)', async () => {
    const maps = path.join(dir, 'maps.ldb');
    const input = path.join(dir, 'virtual.txt');
    await writeFile(input, 'alice@example.com alice\n');
    await writeFile(path.join(dir, 'aliases.txt'), 'alice@example.com local-alice\n');
    const quiet = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
    const args = ['--map', `virtual=${input}`, '--map', `aliases=${path.join(dir, 'aliases.txt')}`, maps];
    assert.equal(await makemapMain(args, quiet), 0);
    const s = await opened([`path=${maps}`, 'keys=sublevel']);
    assert.equal(await q(s, 'alice@example.com', 'virtual'), 'OK alice');
    assert.equal(await q(s, 'alice@example.com', 'aliases'), 'OK local-alice');
    assert.equal(await q(s, 'alice@example.com', 'access'), 'NOTFOUND ');
    assert.equal(await q(s, 'alice@example.com', 'bad name'), 'NOTFOUND ', 'a map name that cannot be a sublevel misses');
    const plain = await opened([`path=${maps}`, 'keys=plain', 'negative-reply=NOTFOUND plain']);
    assert.equal(await q(plain, 'alice@example.com', 'virtual'), 'NOTFOUND plain');
  });

  it('with read=sync answers on the spot (no promise), with the same replies as async reads', async () => {
    const sync = await opened([`path=${plainDir}`, 'read=sync', 'fold-case', 'positive-reply=OK ${value} (${matched})']);
    const async = await opened([`path=${plainDir}`, 'read=async', 'fold-case', 'positive-reply=OK ${value} (${matched})']);
    for (const key of ['MIXED', 'utf8-ключ', 'nobody']) {
      const now = levelModule.query!(sync, 'm', key, conn);
      assert.equal(typeof now, 'string', `a sync read of ${key} returns the reply itself`);
      const later = levelModule.query!(async, 'm', key, conn);
      assert.ok(later instanceof Promise, `an async read of ${key} returns a promise`);
      assert.equal(now, await later);
    }
    assert.equal(levelModule.query!(sync, 'm', 'alice', conn), 'OK alice@example.org (alice)');
    assert.throws(() => levelModule.initDb([`path=${plainDir}`, 'read=mmap'], databaseContext('ldb', [], 'level', dir)), /read.*one of async, sync/);
  });

  it('with read=sync, a read from a closed database throws BackendError (answered TEMP by the core)', async () => {
    const s = await opened([`path=${plainDir}`, 'read=sync']);
    const db = s.db!;
    await db.close();
    try {
      assert.throws(() => levelModule.query!(s, 'm', 'alice', conn), (e: unknown) => e instanceof BackendError && /not open/i.test(e.message));
    } finally {
      await db.open();
    }
  });

  it('closes cleanly, also when never opened', async () => {
    const s = await opened([`path=${plainDir}`]);
    await levelModule.closeDb!(s);
    assert.equal(s.db, null);
    await levelModule.closeDb!(init([`path=${plainDir}`]));
  });
});
