/**
 * Mailfromd's own sockmap functions (`sockmap_lookup` on a kept connection, `sockmap_single_lookup` with a
 * connection per lookup) against a real smapd, run with `mailfromd --run`.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { repoRoot } from '../helpers/paths.js';

function findMailfromd(): string | undefined {
  for (const p of ['/usr/sbin/mailfromd', '/usr/bin/mailfromd']) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const mailfromd = findMailfromd();
const required = process.env.SMAPD_REQUIRE_MAILFROMD === '1';
const skip = mailfromd === undefined && !required ? 'mailfromd not installed (apt-get install mailfromd); skipping' : false;

function runScript(file: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(mailfromd!, ['--no-config', '--run', file], { timeout: 20000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

// Skipped test by test, not as a suite: node:test counts skipped tests in its summary, not skipped suites.
const it = (name: string, fn: (t: TestContext) => void | Promise<void>) => nodeIt(name, { skip }, fn);

describe('Mailfromd as a client', () => {
  let d: TestDaemon;
  before(async () => {
    if (skip) return;
    assert.ok(mailfromd, 'mailfromd is required (SMAPD_REQUIRE_MAILFROMD=1) but not installed');
    d = await startDaemon(`
server tcp inet://127.0.0.1:0
server local unix://@DIR@/mf.sock
module t testmod
module echo echo
database test t
database nf echo NOTFOUND
dispatch map eq test database test
dispatch default database nf
`);
  });
  after(() => d?.stop());

  it('looks up over one kept connection and with a connection per lookup, over TCP and a unix socket', async () => {
    const inet = d.url('tcp');
    const unix = d.url('local');
    const script = path.join(d.dir, 'lookup.mf');
    writeFileSync(
      script,
      `require 'sockmap'

func main(...) returns number
do
  echo "single: " . sockmap_single_lookup("${inet}", "test", "alice")
  number fd open("@ ${inet}")
  echo "kept1: " . sockmap_lookup(fd, "test", "k1")
  echo "kept2: " . sockmap_lookup(fd, "nomap", "k2")
  echo "kept3: " . sockmap_lookup(fd, "test", "key with spaces")
  close(fd)
  echo "unix: " . sockmap_single_lookup("${unix}", "test", "bob")
  return 0
done
`,
    );
    const r = await runScript(script);
    assert.equal(r.code, 0, r.out);
    const lines = r.out.split('\n').filter(Boolean);
    assert.deepEqual(lines, [
      'single: OK test/alice',
      'kept1: OK test/k1',
      'kept2: NOTFOUND ',
      'kept3: OK test/key with spaces',
      'unix: OK test/bob',
    ]);
  });

  it('accepts the shipped sample etc/clients/mailfromd.mf', async () => {
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(mailfromd!, ['--no-config', '--lint', path.join(repoRoot, 'etc', 'clients', 'mailfromd.mf')], (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
    assert.equal(r.code, 0, r.out);
  });
});
