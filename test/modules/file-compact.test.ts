/**
 * The `file` module's compact table (src/maps/compact-table.ts) seen from a client: exact bytes in and out,
 * big entries, empty values, duplicates, and a reload under a stream of lookups that never answers wrong or
 * NOTFOUND for a key both versions hold; and seen from the heap: a loaded map is not a heap of strings.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FileMapStore } from '../../modules/file/store.js';
import { askRaw } from '../helpers/ask-raw.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { silentLogger } from '../helpers/module-context.js';

const netstring = (payload: Buffer): Buffer => Buffer.concat([Buffer.from(`${payload.length}:`), payload, Buffer.from(',')]);

describe('file map: compact table through a real server', () => {
  let d: TestDaemon;
  const longKey = 'k'.repeat(5000) + '@example.org';
  const longValue = 'v'.repeat(60_000);
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-compact-'));
    const file = path.join(dir, 'exact.map');
    await writeFile(
      file,
      Buffer.concat([
        Buffer.from('caf\xe9\tlatin1\n', 'latin1'),
        Buffer.from('café\tutf8\n', 'utf8'),
        Buffer.from('Straße\tfolded-sharp-s\n', 'utf8'),
        Buffer.from('dup first\ndup second\n'),
        Buffer.from('empty\n'),
        Buffer.from(`${longKey}\t${longValue}\n`),
        Buffer.from('raw\tOK caf\xe9 \xff\n', 'latin1'),
      ]),
    );
    d = await startDaemon(
      `server s inet://127.0.0.1:0\nmodule file file\n` +
        `database exact file file=${file} allow-empty reload=0\n` +
        `database folded file file=${file} allow-empty fold-case reload=0\n` +
        `dispatch map exact database exact\ndispatch map folded database folded\n`,
    );
  });
  after(async () => {
    await d?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const ask = async (map: string, key: Buffer): Promise<Buffer> =>
    askRaw(d.url(), Buffer.concat([Buffer.from(`${map} `), key]));

  it('answers by exact bytes: Latin-1 and UTF-8 spellings are two keys, and replies keep their bytes', async () => {
    assert.deepEqual(await ask('exact', Buffer.from('caf\xe9', 'latin1')), netstring(Buffer.from('OK latin1')));
    assert.deepEqual(await ask('exact', Buffer.from('café', 'utf8')), netstring(Buffer.from('OK utf8')));
    assert.deepEqual(await ask('exact', Buffer.from('caf')), netstring(Buffer.from('NOTFOUND ')));
    assert.deepEqual(await ask('exact', Buffer.from('raw')), netstring(Buffer.from('OK OK caf\xe9 \xff', 'latin1')));
  });

  it('folds case at load and lookup with fold-case, and not without it', async () => {
    assert.deepEqual(await ask('folded', Buffer.from('STRASSE')), netstring(Buffer.from('OK folded-sharp-s')));
    assert.deepEqual(await ask('folded', Buffer.from('CAFÉ')), netstring(Buffer.from('OK utf8')));
    assert.deepEqual(await ask('exact', Buffer.from('STRASSE')), netstring(Buffer.from('NOTFOUND ')));
  });

  it('keeps the last of duplicate keys, serves empty values, and long keys and values whole', async () => {
    assert.deepEqual(await ask('exact', Buffer.from('dup')), netstring(Buffer.from('OK second')));
    assert.deepEqual(await ask('exact', Buffer.from('empty')), netstring(Buffer.from('OK ')));
    assert.deepEqual(await ask('exact', Buffer.from(longKey)), netstring(Buffer.from(`OK ${longValue}`)));
    assert.deepEqual(await ask('exact', Buffer.from(longKey.slice(1))), netstring(Buffer.from('NOTFOUND ')));
  });
});

describe('file map: reload under a stream of lookups', () => {
  const LINES = 30_000;
  const mapText = (version: string, from: number): string => {
    const out: string[] = [];
    for (let i = from; i < from + LINES; i++) out.push(`user${i}@example${i % 89}.org\t${version}-dest-${i}@mail.example.net`);
    return out.join('\n') + '\n';
  };

  it('answers each key from one whole version, old until the swap and new after it, never NOTFOUND', async () => {
    const d = await startDaemon(`server s inet://127.0.0.1:0\nmodule file file\ndatabase m file file=@DIR@/m.map reload=20ms allow-missing\ndispatch map m database m\n`);
    try {
      const file = path.join(d.dir, 'm.map');
      // Keys 0..29,999 in the old version, 10,000..39,999 in the new: the middle is in both.
      await writeFile(file, mapText('old', 0));
      const client = await d.client();
      const key = (i: number): string => `user${i}@example${i % 89}.org`;
      // Opens the database (allow-missing let the daemon start before the file existed).
      while (!(await client.query('m', key(5))).startsWith('OK')) await new Promise((r) => setTimeout(r, 10));

      const tmp = `${file}.new`;
      await writeFile(tmp, mapText('new', 10_000));
      await rename(tmp, file);
      let sawNew = false;
      let rounds = 0;
      while (!sawNew || rounds < 3) {
        const ids = Array.from({ length: 200 }, (_, j) => 10_000 + ((rounds * 7919 + j * 101) % 20_000));
        const replies = await client.pipeline(ids.map((i) => ['m', key(i)] as const));
        const versions = replies.map((r, j) => {
          const m = /^OK (old|new)-dest-(\d+)@mail\.example\.net$/.exec(r);
          assert.ok(m !== null && Number(m[2]) === ids[j], `key ${key(ids[j]!)} answered ${r}`);
          return m[1];
        });
        // One connection's requests are answered in order, so once a reply is new, all after it are.
        const firstNew = versions.indexOf('new');
        if (firstNew >= 0) assert.ok(versions.slice(firstNew).every((v) => v === 'new'), `old after new: ${versions.join(',')}`);
        if (sawNew) assert.ok(firstNew === 0, 'an old answer after the new map was in place');
        sawNew ||= firstNew >= 0;
        rounds++;
      }
      assert.equal(await client.query('m', key(5)), 'NOTFOUND ');
      assert.equal(await client.query('m', key(35_000)), 'OK new-dest-35000@mail.example.net');
    } finally {
      await d.stop();
    }
  });
});

describe('file map: memory', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-compact-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a loaded map out of the JS heap: 100,000 entries add well under a byte of heap per entry', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const file = path.join(dir, 'heap.map');
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(`user${i}@example${i % 97}.org\tOK dest-${i}@mail.example.net`);
    await writeFile(file, lines.join('\n') + '\n');
    const store = new FileMapStore(file, { store: (_k, v) => v }, 0, silentLogger);
    try {
      gc();
      const before = process.memoryUsage().heapUsed;
      await store.open();
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.equal(store.entries?.get('user99999@example89.org'), 'OK dest-99999@mail.example.net');
      // A Map of these strings held some 14 MB of heap (about 140 bytes an entry); the table holds its
      // records outside the heap, in a few buffers.
      assert.ok(grown < 100_000, `the loaded map grew the heap by ${grown} bytes`);
      assert.ok(store.entries!.byteLength > 4_000_000, `the table holds ${store.entries!.byteLength} bytes`);
    } finally {
      store.close();
    }
  });
});
