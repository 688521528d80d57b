import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackendError, defineModule } from '../../src/modules/api.js';
import { importModule } from '../../src/modules/loader.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

// A module file in a plain temp directory: no package.json, no node_modules above it, so only smapd's
// resolve hook can answer its `import … from 'smapd/module'`.
const MODULE_SOURCE = `
import { BackendError, defineModule, mapAndKeyOnly } from 'smapd/module';
export const probe = { BackendError, defineModule };
export default defineModule({
  apiVersion: 1,
  capabilities: ['query'],
  answerDependsOn: mapAndKeyOnly,
  initDb: (args, ctx) => ({ ctx }),
  query(db, map, key) {
    if (key === 'fail') throw new BackendError('backend says no');
    return db.ctx.reply.ok('plain ' + key);
  },
});
`;

describe("'smapd/module' for modules outside any package", () => {
  let dir: string;
  let file: string;
  let d: TestDaemon | undefined;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-plain-'));
    file = path.join(dir, 'plain.mjs');
    writeFileSync(file, MODULE_SOURCE);
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves to the API of the smapd that loads the module, not a copy', async () => {
    await importModule(file);
    const ns = (await import(new URL(`file://${file}`).href)) as { probe: { BackendError: unknown; defineModule: unknown } };
    assert.equal(ns.probe.BackendError, BackendError);
    assert.equal(ns.probe.defineModule, defineModule);
  });

  it('lets such a module answer through a running smapd', async () => {
    d = await startDaemon(`
server tcp inet://127.0.0.1:0
module plain ${file}
database p plain
dispatch default database p
`);
    const c = await d.client();
    assert.equal(await c.query('m', 'k'), 'OK plain k');
    assert.match(await c.query('m', 'fail'), /^TEMP /);
  });
});
