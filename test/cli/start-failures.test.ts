/**
 * What `smapd -f -c FILE` does at start about things left behind or misnamed: exit 69 (EX_UNAVAILABLE) with
 * the reason when the pidfile names a running process or the `user`/`group` does not exist; a stale unix
 * socket (one nobody accepts on, left by a crash) is replaced, unless `reuseaddr no`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { spawnSmapd, stopAll } from '../helpers/spawned.js';

const BACKEND = 'module t testmod\ndatabase d t\ndispatch default database d\n';
const root = typeof process.getuid === 'function' && process.getuid() === 0;

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapd-start-'));
});
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Leave a socket file at `p` as a crashed server does: a process binds it and dies without removing it. */
function staleSocket(p: string): void {
  const r = spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(p)}, () => process.exit(0))`]);
  assert.equal(r.status, 0, String(r.stderr));
  assert.ok(lstatSync(p).isSocket(), 'a socket file is left behind');
}

describe('smapd start failures exit 69', () => {
  it('when the pidfile names a process that is still running, and leaves that pidfile and no socket', async () => {
    const pidfile = path.join(dir, 'running.pid');
    const sock = path.join(dir, 'running.sock');
    writeFileSync(pidfile, `${process.pid}\n`); // this test process: certainly alive
    const d = spawnSmapd(`pidfile ${pidfile}\nserver u unix://${sock}\n${BACKEND}`);
    assert.equal(await d.exitCode(), 69, d.stderr());
    assert.match(d.stderr(), new RegExp(`pidfile ${pidfile}: process ${process.pid} is still running`));
    assert.equal(readFileSync(pidfile, 'utf8'), `${process.pid}\n`, 'the other process keeps its pidfile');
    assert.equal(existsSync(sock), false, 'the listener opened before the check is closed and removed');
  });

  it('but replaces a pidfile whose process is gone', async () => {
    const pidfile = path.join(dir, 'gone.pid');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']);
    writeFileSync(pidfile, String(dead.stdout));
    const d = spawnSmapd(`pidfile ${pidfile}\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
    await d.address('tcp');
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(d.pid));
    assert.equal(await d.stop(), 0, d.stderr());
    assert.equal(existsSync(pidfile), false);
  });

  it('when the user does not exist', { skip: root ? false : 'user is ignored unless started as root' }, async () => {
    const d = spawnSmapd(`user no-such-user-smapd\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
    assert.equal(await d.exitCode(), 69, d.stderr());
    assert.match(d.stderr(), /no such user 'no-such-user-smapd'/);
  });

  it('when a group does not exist', { skip: root ? false : 'group is ignored unless started as root' }, async () => {
    const d = spawnSmapd(`user nobody\ngroup no-such-group-smapd\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
    assert.equal(await d.exitCode(), 69, d.stderr());
    assert.match(d.stderr(), /no such group 'no-such-group-smapd'/);
  });
});

describe('a stale unix socket at start', () => {
  it('is replaced, and the new socket serves', async () => {
    const sock = path.join(dir, 'stale.sock');
    staleSocket(sock);
    const d = spawnSmapd(`server u unix://${sock}\n${BACKEND}`);
    assert.equal(await d.address('u'), `unix://${sock}`);
    const c = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 10_000 });
    assert.equal(await c.query('m', 'k'), 'OK m/k');
    await c.close();
    assert.equal(await d.stop(), 0, d.stderr());
    assert.equal(existsSync(sock), false);
  });

  it('is refused with reuseaddr no (exit 69), and left alone', async () => {
    const sock = path.join(dir, 'kept.sock');
    staleSocket(sock);
    const d = spawnSmapd(`reuseaddr no\nserver u unix://${sock}\n${BACKEND}`);
    assert.equal(await d.exitCode(), 69, d.stderr());
    assert.match(d.stderr(), new RegExp(sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.ok(lstatSync(sock).isSocket());
  });
});

describe('a stop right after start', () => {
  it('is graceful: SIGTERM sent the moment smapd logs "smapd started" exits 0 and removes the pidfile', async () => {
    // The signal handlers must be in place before the daemon says it is ready (systemd may stop it at once).
    for (let i = 0; i < 5; i++) {
      const pidfile = path.join(dir, `ready-${i}.pid`);
      const d = spawnSmapd(`pidfile ${pidfile}\nserver tcp inet://127.0.0.1:0\n${BACKEND}`);
      await d.waitForLog(/^smapd started$/);
      d.process.kill('SIGTERM');
      assert.equal(await d.exitCode(), 0, `round ${i}: ${d.stderr()}`);
      assert.equal(existsSync(pidfile), false, `round ${i}: pidfile removed`);
      await d.stop();
    }
  });
});
