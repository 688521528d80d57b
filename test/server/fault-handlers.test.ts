/**
 * The process handlers: an error in a module's scope is the module's (logged, the process goes on); one in
 * smapd's own code is logged and exits with EX_SOFTWARE. Each case runs in a child process of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';

const dist = path.resolve(import.meta.dirname, '../../src');
const url = (rel: string) => pathToFileURL(path.join(dist, rel)).href;

let dir: string;

/** Run `body` (ESM) after installing the handlers with a pino logger on stderr; resolves with exit code and log. */
function runScript(body: string): Promise<{ code: number | null; lines: Array<Record<string, unknown>> }> {
  const file = path.join(dir, `case-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    `import { pino } from ${JSON.stringify(pathToFileURL(path.resolve(import.meta.dirname, '../../../node_modules/pino/pino.js')).href)};
import { installFaultHandlers } from ${JSON.stringify(url('server/fault-handlers.js'))};
import { ModuleScope, inScope } from ${JSON.stringify(url('modules/scope.js'))};
const log = pino({ level: 'info' }, pino.destination({ dest: 2, sync: true }));
installFaultHandlers(log);
${body}
`,
  );
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, lines: err.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) });
    });
  });
}

describe('process fault handlers', () => {
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'smapd-faulth-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('blames a throw from a timer in a module scope on the module, and the process goes on', async () => {
    const { code, lines } = await runScript(`
const scope = new ModuleScope('m1', 'db1', log);
let faults = 0;
scope.onFault = () => { faults++; };
inScope(scope, () => {
  setTimeout(() => { throw new Error('timer in scope'); }, 1);
  void Promise.reject(new Error('rejection in scope'));
});
setTimeout(() => { log.info({ faults }, 'still running'); process.exit(0); }, 200);
`);
    assert.equal(code, 0);
    const still = lines.find((l) => l.msg === 'still running');
    assert.equal(still?.faults, 2);
    // The rejection comes first (a microtask); the timer's throw within the same second is counted, not logged.
    assert.deepEqual(
      lines.filter((l) => l.module === 'm1').map((l) => [l.db, l.origin, l.err]),
      [['db1', 'unhandledRejection', 'rejection in scope']],
    );
  });

  it("logs an error of smapd's own code and exits 70", async () => {
    const { code, lines } = await runScript(`setTimeout(() => { throw new Error('core bug'); }, 1);`);
    assert.equal(code, 70);
    const fatal = lines.find((l) => l.msg === 'uncaught error in smapd; exiting');
    assert.ok(fatal);
    assert.equal(fatal.err, 'core bug');
  });

  it('an unhandled rejection outside any module also exits 70', async () => {
    const { code, lines } = await runScript(`void Promise.reject(new Error('core rejection'));`);
    assert.equal(code, 70);
    assert.ok(lines.some((l) => l.origin === 'unhandledRejection' && l.err === 'core rejection'));
  });
});
