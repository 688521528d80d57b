import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startDaemon } from '../helpers/daemon.js';

describe('database cache block, end to end', () => {
  it('answers repeats from the cache, and drops it when the file map reloads', async () => {
    // The file module loads its map at start, so the map exists before the daemon does.
    const mapDir = mkdtempSync(path.join(tmpdir(), 'smapd-cache-map-'));
    const aliases = path.join(mapDir, 'aliases');
    writeFileSync(aliases, 'alice one\n');
    const d = await startDaemon(`
server tcp inet://127.0.0.1:0
module file file
database aliases file file=${aliases} reload=50ms begin
  cache ttl=10m negative-ttl=10m size=100
end
dispatch map eq aliases database aliases
`);
    try {
      const c = await d.client();
      assert.equal(await c.query('aliases', 'alice'), 'OK one');
      assert.equal(await c.query('aliases', 'alice'), 'OK one');
      assert.equal(await c.query('aliases', 'bob'), 'NOTFOUND ');
      const h = d.daemon.currentRuntime.registry.databases.get('aliases')!;
      assert.deepEqual({ hits: h.cache!.stats().hits, entries: h.cache!.stats().entries }, { hits: 1, entries: 2 });

      const next = path.join(mapDir, 'aliases.new');
      writeFileSync(next, 'alice two\nbob three\n');
      renameSync(next, aliases);
      let reply = '';
      for (let i = 0; i < 200 && reply !== 'OK two'; i++) {
        await new Promise((r) => setTimeout(r, 25));
        reply = await c.query('aliases', 'alice');
      }
      assert.equal(reply, 'OK two', 'the cached answer was dropped after the reload');
      assert.equal(await c.query('aliases', 'bob'), 'OK three', 'the cached NOTFOUND was dropped too');
    } finally {
      await d.stop();
      rmSync(mapDir, { recursive: true, force: true });
    }
  });

  it('keeps answers apart per client for a module that does not say what its answers depend on', async () => {
    // testmod has no answerDependsOn hook, and its `conn` key answers with the server id: a cache keyed by
    // map and key alone would hand server a's answer to a client of server b.
    const d = await startDaemon(`
server a inet://127.0.0.1:0
server b inet://127.0.0.1:0
module t testmod
database d t begin
  cache ttl=10m
end
dispatch default database d
`);
    try {
      const a = await d.client('a');
      const b = await d.client('b');
      assert.equal(await a.query('m', 'conn'), 'OK a inet 127.0.0.1');
      assert.equal(await b.query('m', 'conn'), 'OK b inet 127.0.0.1');
      assert.equal(await a.query('m', 'conn'), 'OK a inet 127.0.0.1');
      assert.equal(d.daemon.currentRuntime.registry.databases.get('d')!.cache!.stats().hits, 1);
    } finally {
      await d.stop();
    }
  });
});
