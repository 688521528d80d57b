/**
 * Started as root, `smapd -f -c FILE` binds and writes its pidfile as root, then becomes `user` with exactly
 * the user's primary group and the `group` statements' groups (setgroups and setgid before setuid: the other
 * way round fails), then creates the control socket as that user. `socket-owner` gives the unix socket its
 * owner. Skipped test by test when not root.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { groupId, userId, userPrimaryGroup } from '../../src/server/accounts.js';
import { controlCommand } from '../../src/control/client.js';
import { spawnSmapd, stopAll } from '../helpers/spawned.js';

const root = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = root ? false : 'needs root to switch users and give sockets away';
const BACKEND = 'module t testmod\ndatabase d t\ndispatch default database d\n';

after(stopAll);

/** The ids of a /proc/PID/status line (`Uid:`, `Gid:`, `Groups:`). */
function procIds(pid: number, field: string): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))!;
  return line.slice(field.length + 1).trim().split(/\s+/).filter(Boolean).map(Number);
}

describe('privileges of smapd -f -c FILE started as root', () => {
  it('binds and writes the pidfile as root, then runs as the user with its primary group and the configured groups only', { skip }, async () => {
    const nobody = userId('nobody')!;
    const nogroup = userPrimaryGroup('nobody')!;
    const mail = groupId('mail')!;
    const staff = groupId('staff')!;
    const run = spawnSmapd(
      [
        'user nobody',
        'group mail',
        'group staff',
        'pidfile @DIR@/private/smapd.pid',
        'control-socket @DIR@/ctl/control.sock',
        'server u unix://@DIR@/private/s.sock begin',
        '  socket-mode 666',
        'end',
        BACKEND,
      ].join('\n'),
      { dir: prepareDirs(nobody) },
    );
    await run.address('u');
    await run.waitForLog(/^dropped privileges$/);
    assert.deepEqual(procIds(run.pid, 'Uid'), [nobody, nobody, nobody, nobody], 'real, effective, saved and fs uid');
    assert.deepEqual(procIds(run.pid, 'Gid'), [nogroup, nogroup, nogroup, nogroup]);
    assert.deepEqual(new Set(procIds(run.pid, 'Groups')), new Set([nogroup, mail, staff]), 'no root group, nothing else');
    // Made as root, in a directory only root may write: proof they came before the switch.
    const priv = path.join(run.dir, 'private');
    assert.equal(statSync(path.join(priv, 'smapd.pid')).uid, 0);
    assert.equal(readFileSync(path.join(priv, 'smapd.pid'), 'utf8').trim(), String(run.pid));
    const c = await SmapClient.connect({ url: `unix://${priv}/s.sock`, timeoutMs: 10_000 });
    assert.equal(await c.query('m', 'k'), 'OK m/k');
    await c.close();
    // Made after the switch: the service user owns it (and can remove it at stop).
    assert.equal(statSync(path.join(run.dir, 'ctl', 'control.sock')).uid, nobody);
    assert.match(await controlCommand(path.join(run.dir, 'ctl', 'control.sock'), 'status', 5000), /^OK \{/);
    assert.equal(await run.stop(), 0, run.stderr());
  });

  it('socket-owner gives each unix socket its owner: USER:GROUP, USER (its primary group) and :GROUP', { skip }, async () => {
    const nobody = userId('nobody')!;
    const nogroup = userPrimaryGroup('nobody')!;
    const mail = groupId('mail')!;
    const staff = groupId('staff')!;
    const d = spawnSmapd(
      [
        'server both unix://@DIR@/both.sock begin',
        '  socket-owner nobody:mail',
        'end',
        'server user unix://@DIR@/user.sock begin',
        '  socket-owner nobody',
        'end',
        'server group unix://@DIR@/group.sock begin',
        '  socket-owner :staff',
        'end',
        'server plain unix://@DIR@/plain.sock',
        BACKEND,
      ].join('\n'),
    );
    await d.address('plain');
    const owner = (name: string) => {
      const st = statSync(path.join(d.dir, `${name}.sock`));
      return [st.uid, st.gid];
    };
    assert.deepEqual(owner('both'), [nobody, mail]);
    assert.deepEqual(owner('user'), [nobody, nogroup]);
    assert.deepEqual(owner('group'), [0, staff]);
    assert.deepEqual(owner('plain'), [0, 0]);
    assert.equal(await d.stop(), 0, d.stderr());
  });
});

/** A temp dir the user can traverse, with `private` (root only) and `ctl` (the user's). */
function prepareDirs(uid: number): string {
  const base = path.join('/tmp', `smapd-priv-${process.pid}-${Date.now()}`);
  mkdirSync(base, { mode: 0o711 });
  chmodSync(base, 0o711);
  mkdirSync(path.join(base, 'private'), { mode: 0o700 });
  mkdirSync(path.join(base, 'ctl'), { mode: 0o700 });
  chownSync(path.join(base, 'ctl'), uid, -1);
  after(() => import('node:fs').then((fs) => fs.rmSync(base, { recursive: true, force: true })));
  return base;
}
