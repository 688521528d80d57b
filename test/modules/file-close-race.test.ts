/**
 * A change check of a file map that is still waiting for stat when the database is closed (a reload or a
 * stop) must end quietly. It used to read the entry count of the closed map and reject with a TypeError: an
 * unhandled rejection, which takes a Node process down.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import fileModule, { type FileDb } from '../../modules/file/index.js';
import { databaseContext } from '../helpers/module-context.js';

describe('file module: closed while a check is under way', () => {
  it('a check whose stat fails after closeDb resolves "closed"', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-file-race-'));
    try {
      await writeFile(path.join(dir, 'map'), 'alice one\n');
      const db = fileModule.initDb(['file=map'], databaseContext('db', [], 'file', dir)) as FileDb;
      await fileModule.openDb!(db);
      await rm(path.join(dir, 'map'));
      const pending = db.store.checkNow(); // stat is now waiting on the thread pool
      await fileModule.closeDb!(db);
      assert.equal(await pending, 'closed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
