/**
 * With `workers 2` the primary keeps the connection limits for the whole daemon, per-address included: the
 * workers tell it which address a closed connection counted under.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { fixture } from '../helpers/paths.js';
import { readBytes, readUntilClose } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');

function connectFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function ask(s: net.Socket, key: string): Promise<string> {
  const want = encodeNetstring(`OK m/${key}`);
  const r = readBytes(s, want.length);
  s.write(encodeNetstring(`m ${key}`));
  return r;
}

describe('workers 2: limits kept by the primary', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smapd-cluster-limits-'));
  let p: ChildProcess | undefined;
  after(async () => {
    if (p !== undefined && p.exitCode === null) {
      const exited = new Promise((r) => p!.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an address past max-connections-per-address (when-full refuse), and counts its closed connections back', async () => {
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(
      conf,
      `prepend-load-path ${fixture('modules')}\nworkers 2\nmax-connections-per-address 2\nwhen-full refuse\n` +
        'server tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase d t\ndispatch default database d\n',
    );
    p = spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    await waitFor(() => log.includes('smapd started'), 'smapd to start', 20_000);
    const port = Number(/"tcp":"inet:\/\/127\.0\.0\.1:(\d+)"/.exec(log)![1]);

    const a = await connectFrom('127.0.0.2', port);
    const b = await connectFrom('127.0.0.2', port);
    assert.equal(await ask(a, 'a'), encodeNetstring('OK m/a'));
    assert.equal(await ask(b, 'b'), encodeNetstring('OK m/b'));
    const third = await connectFrom('127.0.0.2', port);
    assert.equal(await readUntilClose(third), '');
    await waitFor(() => log.includes('"limit":"max-connections-per-address"'), 'the refusal in the log');

    const other = await connectFrom('127.0.0.1', port);
    assert.equal(await ask(other, 'o'), encodeNetstring('OK m/o'));
    other.destroy();

    // Once a worker reports a closed connection of 127.0.0.2, that address is served again.
    a.destroy();
    let served = false;
    for (let i = 0; i < 100 && !served; i++) {
      const s = await connectFrom('127.0.0.2', port);
      s.on('error', () => undefined);
      const closedOrAnswered = await Promise.race([
        readUntilClose(s, 5000).then(() => 'closed', () => 'timeout'),
        ask(s, 'again').then(() => 'answered', () => 'timeout'),
      ]);
      served = closedOrAnswered === 'answered';
      s.destroy();
      if (!served) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(served, 'a connection of 127.0.0.2 was served again after one of its two closed');
    b.destroy();
  });
  it('with when-full evict, a worker closes an idle connection of that address for the new one', async () => {
    const conf = path.join(dir, 'evict.conf');
    writeFileSync(
      conf,
      `prepend-load-path ${fixture('modules')}\nworkers 2\nmax-connections-per-address 2\n` +
        'server tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase d t\ndispatch default database d\n',
    );
    const q = spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((r) => q.once('exit', r));
    try {
      let log = '';
      q.stderr!.on('data', (d) => (log += d));
      await waitFor(() => log.includes('smapd started'), 'smapd to start', 20_000);
      const port = Number(/"tcp":"inet:\/\/127\.0\.0\.1:(\d+)"/.exec(log)![1]);
      const a = await connectFrom('127.0.0.2', port);
      const b = await connectFrom('127.0.0.2', port);
      assert.equal(await ask(a, 'a'), encodeNetstring('OK m/a'));
      assert.equal(await ask(b, 'b'), encodeNetstring('OK m/b'));
      const aClosed = readUntilClose(a, 10_000).then(() => 'a', () => 'timeout');
      const bClosed = readUntilClose(b, 10_000).then(() => 'b', () => 'timeout');
      const third = await connectFrom('127.0.0.2', port);
      assert.equal(await ask(third, 'c'), encodeNetstring('OK m/c'));
      assert.match(await Promise.race([aClosed, bClosed]), /^[ab]$/, 'one of the idle connections made room');
      await waitFor(() => log.includes('closed an idle or stalled connection to make room'), 'the eviction in the log');
      third.destroy();
      a.destroy();
      b.destroy();
    } finally {
      q.kill('SIGTERM');
      await exited;
    }
  });
});
