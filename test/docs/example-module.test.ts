import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

// The compiled example sits at <outDir>/docs/examples/json-map.js.
const EXAMPLE = path.resolve(import.meta.dirname, '../../docs/examples/json-map.js');

describe('docs/examples/json-map.ts, loaded by path as a user module', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon(`
server tcp inet://127.0.0.1:0
module json ${EXAMPLE}
database routes json file=@DIR@/routes.json fold-case
database broken json file=@DIR@/missing.json
database relays json file=@DIR@/relays.json positive-reply='OK relay \${value}' nomore
dispatch map eq bad database broken
dispatch map eq relay database relays
dispatch default database routes
`);
    writeFileSync(path.join(d.dir, 'relays.json'), JSON.stringify({ relay: { 'example.com': 'smtp:[mx.example.com]' } }));
    writeFileSync(path.join(d.dir, 'routes.json'), JSON.stringify({ aliases: { Postmaster: 'root@example.com' }, transport: { 'example.com': 'smtp:[mx.example.com]' } }));
  });
  after(() => d.stop());

  it('answers from the JSON file, per map, with case folding', async () => {
    const c = await d.client();
    assert.equal(await c.query('aliases', 'POSTMASTER'), 'OK root@example.com');
    assert.equal(await c.query('transport', 'example.com'), 'OK smtp:[mx.example.com]');
    assert.equal(await c.query('aliases', 'nobody'), 'NOTFOUND ');
  });

  it('answers TEMP when its file cannot be read', async () => {
    const c = await d.client();
    assert.equal(await c.query('bad', 'x'), 'TEMP database unavailable');
  });

  it('takes the reply options of the module kit', async () => {
    const c = await d.client();
    assert.equal(await c.query('relay', 'example.com'), 'OK relay smtp:[mx.example.com]');
    assert.equal(await c.query('relay', 'example.org'), 'NOMORE ');
  });

  it('offers its count command', async () => {
    const h = d.daemon.currentRuntime.registry.databases.get('routes')!;
    assert.equal(await h.command('count', []), 'aliases 1\ntransport 1');
  });
});
