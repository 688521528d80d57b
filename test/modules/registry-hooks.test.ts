/** The registry gives init, initDb and done deadlines, so a module that hangs cannot hang a start, a reload or a stop. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/parser.js';
import { Registry } from '../../src/modules/registry.js';
import { capture } from '../helpers/capture-log.js';

let dir: string;

/** A module file whose hooks are given as source text; the rest answers `OK key`. */
function moduleFile(name: string, hooks: string): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    `export default {
  apiVersion: 1,
  capabilities: ['query'],
  initDb: (args, ctx) => ({ reply: ctx.reply }),
  query: (db, map, key) => db.reply.ok(key),
  ${hooks}
};
`,
  );
  return file;
}

function config(lines: string[]) {
  return parseConfigText(lines.join('\n') + '\n', path.join(dir, 'smapd.conf'));
}

describe('module hook deadlines in the registry', () => {
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'smapd-hooks-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an init that never finishes is a config error for its statement, after the deadline', async () => {
    const file = moduleFile('hang-init.mjs', 'init: () => new Promise(() => {}),');
    const { registry, errors } = await Registry.load(config([`module h ${file}`]), capture().log, { initMs: 100 });
    await registry.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /smapd\.conf:1: module h: init\(\) did not finish within 100 ms/);
  });

  it('an initDb that never finishes is a config error; one that finishes late has its state closed', async () => {
    const file = moduleFile(
      'slow-initdb.mjs',
      `initDb: (args, ctx) => args[0] === 'hang' ? new Promise(() => {}) : new Promise((r) => setTimeout(() => r({ reply: ctx.reply, late: true }), 300)),
  closeDb: (db) => { if (db.late) globalThis.__smapdLateClosed?.(); },`,
    );
    const logged = capture();
    const g = globalThis as { __smapdLateClosed?: () => void };
    const lateClosed = new Promise<void>((resolve) => (g.__smapdLateClosed = resolve));
    const { registry, errors } = await Registry.load(config([`module s ${file}`, 'database a s hang', 'database b s late']), logged.log, { initMs: 100 });
    await registry.close();
    assert.deepEqual(
      errors.map((e) => e.message.replace(/^.*smapd\.conf:/, '')),
      ['2: database a: initDb() did not finish within 100 ms', '3: database b: initDb() did not finish within 100 ms'],
    );
    const bound = new Promise<string>((resolve) => setTimeout(resolve, 10_000, 'not closed').unref());
    assert.equal(await Promise.race([lateClosed.then(() => 'closed'), bound]), 'closed', 'the late state was closed');
    assert.ok(logged.lines().some((l) => l.msg === 'initDb finished after its deadline; closing what it made'));
  });

  it('a done() that never finishes does not hold up close() past the close budget', async () => {
    const file = moduleFile('hang-done.mjs', 'done: () => new Promise(() => {}),');
    const logged = capture();
    const { registry, errors } = await Registry.load(config(['shutdown-timeout 200ms', `module d ${file}`, 'database x d']), logged.log);
    assert.deepEqual(errors, []);
    const started = Date.now();
    await registry.close();
    assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms`);
    assert.ok(logged.lines().some((l) => l.msg === 'error in module done(); going on without it' && /done\(\) did not finish/.test(String(l.err))));
  });
});
