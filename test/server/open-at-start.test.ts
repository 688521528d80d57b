/**
 * Databases that load their data at open (`openAtStart`: the `file` module) are open before the daemon
 * listens and before a reloaded config serves, so no lookup waits for a map to load. Checked by the order of
 * events (the log, and the handle's state before the first lookup), not by timing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/parser.js';
import { capture } from '../helpers/capture-log.js';
import { startDaemon } from '../helpers/daemon.js';

function mapText(lines: number, version: string): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) out.push(`key${i}\t${version}${i}`);
  return out.join('\n') + '\n';
}

describe('databases opened at start', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-open-at-start-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a file map before listening, and a reloaded config loads its map before it serves', async () => {
    const first = path.join(dir, 'first.map');
    const second = path.join(dir, 'second.map');
    await writeFile(first, mapText(20000, 'a'));
    await writeFile(second, mapText(20000, 'b'));
    const conf = (file: string) => `
server tcp inet://127.0.0.1:0
module file file
database big file file=${file}
dispatch map eq big database big
`;
    const { log, lines } = capture('info');
    const d = await startDaemon(conf(first), log);
    try {
      const msgs = () => lines().map((l) => String(l['msg']));
      const loaded = msgs().indexOf('map file loaded');
      const listening = msgs().indexOf('listening');
      assert.ok(loaded >= 0 && listening > loaded, `log order: ${msgs().join(' | ')}`);
      const rt = d.daemon.currentRuntime;
      assert.equal(rt.registry.databases.get('big')!.isOpen, true, 'open before any lookup');
      const c = await d.client();
      assert.equal(await c.query('big', 'key19999'), 'OK a19999');

      const confFile = path.join(d.dir, 'smapd.conf');
      await writeFile(confFile, conf(second));
      const before = lines().length;
      await d.daemon.reload(loadConfig(confFile));
      const next = d.daemon.currentRuntime;
      assert.notEqual(next, rt);
      assert.equal(next.registry.databases.get('big')!.isOpen, true, 'the new config serves with its map loaded');
      const reloadLog = lines().slice(before);
      assert.ok(
        reloadLog.some((l) => l['msg'] === 'map file loaded' && l['file'] === second),
        `the second map was loaded during the reload: ${JSON.stringify(reloadLog)}`,
      );
      const c2 = await d.client();
      assert.equal(await c2.query('big', 'key19999'), 'OK b19999');
    } finally {
      await d.stop();
    }
  });
});
