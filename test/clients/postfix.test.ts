/**
 * Postfix's own socketmap client (`postmap -q … socketmap:…`) against a real smapd: the reply formats it
 * accepts, keys with spaces, many keys on one connection, unix sockets, and the reply size cap.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

function findPostmap(): string | undefined {
  for (const p of ['/usr/sbin/postmap', '/usr/bin/postmap']) {
    try {
      execFileSync(p, ['-c', '/nonexistent-dir-for-probe', '-q', 'x', 'inline:{}'], { stdio: 'ignore' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
    }
    return p;
  }
  return undefined;
}

const postmap = findPostmap();
const required = process.env.SMAPD_REQUIRE_POSTFIX === '1';
const skip = postmap === undefined && !required ? 'postmap not installed (apt-get install postfix); skipping' : false;

function query(pfconf: string, table: string, key: string, input?: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(postmap!, ['-c', pfconf, '-q', key, table], { timeout: 20000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

// Skipped test by test, not as a suite: node:test counts skipped tests in its summary, not skipped suites.
const it = (name: string, fn: (t: TestContext) => void | Promise<void>) => nodeIt(name, { skip }, fn);

describe('Postfix postmap as a client', () => {
  let d: TestDaemon;
  let pfconf: string;
  let inet: string;
  let unix: string;

  before(async () => {
    if (skip) return;
    assert.ok(postmap, 'postmap is required (SMAPD_REQUIRE_POSTFIX=1) but not installed');
    pfconf = mkdtempSync(path.join(tmpdir(), 'smapd-pf-'));
    writeFileSync(path.join(pfconf, 'main.cf'), '');
    d = await startDaemon(`
server tcp inet://127.0.0.1:0
server local unix://@DIR@/pf.sock begin
  socket-mode 666
end
module t testmod
module echo echo
database test t
database nf echo NOTFOUND
dispatch map eq test database test
dispatch default database nf
`);
    const port = d.port('tcp');
    inet = `socketmap:inet:127.0.0.1:${port}`;
    unix = `socketmap:unix:${d.url('local').replace('unix://', '')}`;
  });

  after(async () => {
    await d?.stop();
    if (pfconf) rmSync(pfconf, { recursive: true, force: true });
  });

  it('gets a found value over TCP (exit 0, value on stdout)', async () => {
    const r = await query(pfconf, `${inet}:test`, 'alice@example.com');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'test/alice@example.com\n');
  });

  it('reads NOTFOUND as not found (exit 1)', async () => {
    const r = await query(pfconf, `${inet}:nomap`, 'bob');
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, '');
    assert.equal(r.err, '', 'not found is not an error');
  });

  it('gets a value over the unix socket', async () => {
    const r = await query(pfconf, `${unix}:test`, 'carol');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'test/carol\n');
  });

  it('looks up many keys on one connection, in order', async () => {
    const r = await query(pfconf, `${inet}:test`, '-', 'k1\nk2\nk3\n');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'k1\ttest/k1\nk2\ttest/k2\nk3\ttest/k3\n');
  });

  it('sees a TEMP reply as a lookup error, not as not-found', async () => {
    const r = await query(pfconf, `${inet}:test`, 'throw');
    // postmap exits 1 for both; what tells them apart is the error it reports.
    assert.notEqual(r.code, 0);
    assert.match(r.err, /socketmap server temporary error: database error/);
    assert.match(r.err, /query error/);
  });

  it('never gets a reply longer than it can read: an oversize answer becomes PERM', async () => {
    const ok = await query(pfconf, `${inet}:test`, 'big:99000');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out.length, 99001);
    const big = await query(pfconf, `${inet}:test`, 'big:200000');
    assert.notEqual(big.code, 0);
    assert.doesNotMatch(big.err, /input format error/, 'Postfix must not see an oversize netstring');
    assert.match(big.err, /socketmap server permanent error: reply too long \(limit 100000 bytes\)/);
  });
});
