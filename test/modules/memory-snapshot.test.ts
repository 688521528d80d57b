import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import memory from '../../modules/memory/index.js';
import type { MemoryDb } from '../../modules/memory/db.js';
import { formatSnapshot, parseSnapshot, SNAPSHOT_HEADER } from '../../modules/memory/snapshot.js';
import { BackendError, type ConnInfo } from '../../src/modules/api.js';
import { databaseContext } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 't', family: 'unix', src: '', srcPort: 0, dst: '/tmp/s', dstPort: 0 };

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapd-memory-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A database as the config in `dir` would declare it: `snapshot=NAME` is relative to the config directory. */
function init(name: string, extra: string[] = []): Promise<MemoryDb> {
  return Promise.resolve(memory.initDb([`snapshot=${name}`, 'capacity=100', ...extra], databaseContext('mem', [], 'memory', dir)));
}

async function openNew(name: string, extra: string[] = []): Promise<MemoryDb> {
  const db = await init(name, extra);
  await memory.openDb!(db);
  return db;
}

async function run(db: MemoryDb, ...line: string[]): Promise<string> {
  const [cmd, ...args] = line;
  return memory.commands![cmd!]!.run(db, args);
}

describe('memory snapshot format', () => {
  it('round-trips any characters and counts its bindings', () => {
    const entries: Array<[string, string]> = [
      ['plain', 'value'],
      ['with space', 'tab\there "quoted" \\ back'],
      ['ünïcödé', '☃'],
    ];
    const text = formatSnapshot(entries);
    assert.ok(text.startsWith(SNAPSHOT_HEADER + '\n'));
    assert.ok(text.endsWith('# end 3\n'));
    assert.deepEqual(parseSnapshot(text, 'f').bindings, entries);
    assert.deepEqual(parseSnapshot('', 'f').bindings, []);
  });

  it('names the file and line of what is wrong', () => {
    const bad = (text: string, re: RegExp) => assert.throws(() => parseSnapshot(text, '/x/s.snap'), re);
    bad('key value\n', /^Error: \/x\/s\.snap:1: not a smapd memory snapshot/);
    bad(`${SNAPSHOT_HEADER}\n["a","b"]\n["c"]\n# end 2\n`, /\/x\/s\.snap:3: a binding must be a JSON array of two strings/);
    bad(`${SNAPSHOT_HEADER}\n["a","b"]\n{oops\n# end 2\n`, /\/x\/s\.snap:3: not a binding: /);
    bad(`${SNAPSHOT_HEADER}\n["a","b"]\n["c","d"]\n`, /\/x\/s\.snap:3: the file is truncated: the '# end N' line is missing/);
    bad(`${SNAPSHOT_HEADER}\n["a","b"]\n# end 2\n`, /\/x\/s\.snap:3: the end line counts 2 bindings but the file holds 1/);
    bad(`${SNAPSHOT_HEADER}\n# end 0\n["a","b"]\n`, /\/x\/s\.snap:3: data after the end line/);
  });
});

describe('memory snapshot file', () => {
  it('starts empty without a file, and bindings survive a close and reopen', async () => {
    const db = await openNew('a.snap');
    assert.equal(db.table.size, 0);
    await run(db, 'bind', 'k1', 'v one');
    await run(db, 'bind', 'k2', 'v2');
    await run(db, 'remove', 'k2');
    await memory.closeDb!(db);

    const file = path.join(dir, 'a.snap');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8'), `${SNAPSHOT_HEADER}\n["k1","v one"]\n# end 1\n`);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temp file left behind');

    const again = await openNew('a.snap');
    assert.equal(memory.query!(again, 'm', 'k1', conn), 'OK v one');
    assert.equal(memory.query!(again, 'm', 'k2', conn), 'NOTFOUND ');
    await memory.closeDb!(again);
  });

  it('writes soon after a change, without waiting for close', async () => {
    const db = await openNew('b.snap');
    for (let i = 0; i < 20; i++) await run(db, 'bind', `key${i}`, `value${i}`);
    const file = path.join(dir, 'b.snap');
    assert.equal(existsSync(file), false, 'writes are delayed so a burst costs one write');
    // Wait for the file rather than for a fixed time; a write that never comes fails after 5 s.
    for (const end = Date.now() + 5000; !existsSync(file) && Date.now() < end; ) await sleep(10);
    assert.equal(parseSnapshot(readFileSync(file, 'utf8'), file).bindings.length, 20);
    await memory.closeDb!(db);
  });

  it('saves on demand and reports where', async () => {
    const db = await openNew('c.snap');
    await run(db, 'bind', 'x', 'y');
    assert.equal(await run(db, 'save'), `saved 1 binding to ${path.join(dir, 'c.snap')}`);
    assert.equal(parseSnapshot(readFileSync(path.join(dir, 'c.snap'), 'utf8'), 'c').bindings.length, 1);
    await memory.closeDb!(db);
  });

  it('refuses to open a corrupt snapshot, naming file and line, and leaves it untouched', async () => {
    const file = path.join(dir, 'corrupt.snap');
    const text = `${SNAPSHOT_HEADER}\n["a","1"]\nnot json\n# end 2\n`;
    writeFileSync(file, text);
    const db = await init('corrupt.snap');
    await assert.rejects(memory.openDb!(db) as Promise<void>, (err: Error) => {
      assert.ok(err instanceof BackendError);
      assert.match(err.message, new RegExp(`cannot read snapshot: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: not a binding`));
      return true;
    });
    await memory.closeDb!(db);
    assert.equal(readFileSync(file, 'utf8'), text);
  });

  it('refuses a snapshot that does not fit or collides under fold-case', async () => {
    writeFileSync(path.join(dir, 'big.snap'), formatSnapshot([['a', '1'], ['b', '2'], ['c', '3']]));
    const small = await memory.initDb(['snapshot=big.snap', 'capacity=2'], databaseContext('mem', [], 'memory', dir));
    await assert.rejects(memory.openDb!(small) as Promise<void>, /big\.snap holds 3 bindings, more than capacity=2; raise capacity/);

    writeFileSync(path.join(dir, 'case.snap'), formatSnapshot([['Key', '1'], ['other', '2'], ['KEY', '3']]));
    const folded = await init('case.snap', ['fold-case']);
    await assert.rejects(memory.openDb!(folded) as Promise<void>, /case\.snap:4: key 'KEY' is bound twice \(with fold-case\), first at .*case\.snap:2/);
    assert.equal(folded.table.size, 0);
  });

  it('fails to open when the snapshot directory is missing', async () => {
    const db = await init('no/such/dir/x.snap');
    await assert.rejects(memory.openDb!(db) as Promise<void>, /snapshot directory .*no\/such\/dir does not exist/);
  });

  it('reports a failed write on save and keeps the change for a later write', async () => {
    const db = await openNew('blocked.snap');
    const file = path.join(dir, 'blocked.snap');
    // A directory where the file should go makes the rename fail, for root too (unlike permissions).
    mkdirSync(path.join(file, 'inside'), { recursive: true });
    await run(db, 'bind', 'k', 'v');
    await assert.rejects(run(db, 'save'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.notEqual(db.writer!.error, null);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'the temp file is removed after a failure');
    rmSync(file, { recursive: true });
    await memory.closeDb!(db);
    assert.equal(db.writer!.error, null);
    assert.deepEqual(parseSnapshot(readFileSync(file, 'utf8'), file).bindings, [['k', 'v']]);
  });

  it('hands the file over to the database of a reloaded configuration', async () => {
    const oldDb = await openNew('reload.snap');
    await run(oldDb, 'bind', 'before', 'reload');
    // A reload: the new configuration's database opens while the old one is still alive, change unsaved.
    const newDb = await openNew('reload.snap');
    assert.equal(memory.query!(newDb, 'm', 'before', conn), 'OK reload');
    await run(newDb, 'bind', 'after', 'reload');
    await run(newDb, 'save');
    // The old runtime closes when its last connection ends; it must not overwrite the new data.
    await memory.closeDb!(oldDb);
    const file = path.join(dir, 'reload.snap');
    assert.deepEqual(parseSnapshot(readFileSync(file, 'utf8'), file).bindings.map((b) => b[0]).sort(), ['after', 'before']);
    await memory.closeDb!(newDb);
  });
});
