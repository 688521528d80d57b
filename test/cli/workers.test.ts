import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { controlCommand } from '../../src/control/client.js';
import { fixture } from '../helpers/paths.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');

describe('workers 2', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-workers-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves from several processes behind one unix socket, sums their counters, and stops cleanly', async () => {
    const sock = path.join(dir, 's.sock');
    const ctl = path.join(dir, 'ctl.sock');
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(
      conf,
      `prepend-load-path ${fixture('modules')}\nworkers 2\ncontrol-socket ${ctl}\nserver u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`,
    );
    const p = spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    for (let i = 0; i < 400 && !log.includes('smapd started'); i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(log, /"workers":2/);

    const clients = await Promise.all(Array.from({ length: 8 }, () => SmapClient.connect({ url: `unix://${sock}` })));
    const pids = new Set<string>();
    for (const [i, c] of clients.entries()) {
      assert.equal(await c.query('m', `k${i}`), `OK m/k${i}`);
      pids.add(await c.query('m', 'pid'));
    }
    // One client stays connected through the stop, as a mail server's long-lived connections do.
    const idle = clients.pop()!;
    await Promise.all(clients.map((c) => c.close()));
    assert.equal(pids.size, 2, 'connections are spread over both workers');

    // The primary polls the workers once a second.
    let status: { requests: number; databases: Record<string, { queries: number }> } | undefined;
    for (let i = 0; i < 40; i++) {
      const reply = await controlCommand(ctl, 'status');
      status = JSON.parse(reply.replace(/^OK /, ''));
      if (status!.requests >= 16) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status!.requests, 16);
    assert.ok(!pids.has(`OK ${p.pid}`), 'the primary answers no lookups');
    assert.equal(status!.databases.d!.queries, 16);

    // Only the primary is signalled (as `kill PID` does): it must stop the workers, which close the idle
    // connection, and exit.
    p.kill('SIGTERM');
    await idle.closed;
    assert.equal(await exited, 0, log);
    assert.equal(existsSync(sock), false);
    assert.doesNotMatch(log, /shared read buffer/, 'sockets passed to workers read into the shared buffer');
    assert.doesNotMatch(log, /shutdown timeout/, 'the idle connection closes gracefully');
  });

  it('keeps max-connections for the whole daemon, not per worker', async () => {
    const sock = path.join(dir, 'lim.sock');
    const conf = path.join(dir, 'lim.conf');
    writeFileSync(conf, `prepend-load-path ${fixture('modules')}\nworkers 2\nmax-connections 2\nwhen-full refuse\nserver u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`);
    const p = spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    for (let i = 0; i < 400 && !log.includes('smapd started'); i++) await new Promise((r) => setTimeout(r, 25));
    try {
      const a = await SmapClient.connect({ url: `unix://${sock}` });
      const b = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await a.query('m', 'a'), 'OK m/a');
      assert.equal(await b.query('m', 'b'), 'OK m/b');
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      await assert.rejects(c.query('m', 'c'), /closed/i, 'a third connection is refused');
      await a.close();
      // Once the worker reports the close, there is room again.
      let answer = '';
      for (let i = 0; i < 100 && answer === ''; i++) {
        const d = await SmapClient.connect({ url: `unix://${sock}` });
        answer = await d.query('m', 'd').catch(() => '');
        await d.close().catch(() => undefined);
        if (answer === '') await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(answer, 'OK m/d');
      await b.close();
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log);
  });
});
