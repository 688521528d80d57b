import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { controlCommand } from '../../src/control/client.js';
import { fixture } from '../helpers/paths.js';
import { killStartedSmapds, startSmapdProcess } from '../helpers/spawned.js';

after(killStartedSmapds);

async function waitFor(pred: () => boolean, what: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lookups on `n` new connections (round-robin reaches every worker), each closed after its answer. */
async function freshAnswers(sock: string, n: number, key: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 10000 });
    out.push(await c.query('m', key));
    await c.close();
  }
  return out;
}

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
    const p = startSmapdProcess(conf);
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
    const p = startSmapdProcess(conf);
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

  it('reloads only a config the primary checked: workers keep serving through a rejected one, and a restarted worker gets the checked one', async () => {
    const sock = path.join(dir, 'rl.sock');
    const conf = path.join(dir, 'rl.conf');
    const text = (prefix: string) =>
      `prepend-load-path ${fixture('modules')}\nworkers 2\nserver u unix://${sock}\nmodule t testmod\ndatabase d t ${prefix}\ndispatch default database d\n`;
    writeFileSync(conf, text('v1-'));
    const p = startSmapdProcess(conf);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    const count = (what: string) => log.split('\n').filter((l) => l.includes(what)).length;
    try {
      await waitFor(() => log.includes('smapd started') || p.exitCode !== null, 'start');
      const held = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 10000 });
      assert.equal(await held.query('m', 'a'), 'OK v1-m/a');

      // An empty file and a file without server: refused by the primary, logged; no worker drops anything.
      for (const [i, bad] of ['', `prepend-load-path ${fixture('modules')}\nmodule t testmod\ndatabase d t x-\ndispatch default database d\n`].entries()) {
        writeFileSync(conf, bad);
        p.kill('SIGHUP');
        await waitFor(() => count('reload rejected') === i + 1, `rejected reload ${i + 1}`);
        assert.match(log, new RegExp(`${conf.replaceAll('/', '\\/')}: no servers configured`));
        assert.equal(await held.query('m', `b${i}`), `OK v1-m/b${i}`);
        assert.deepEqual(await freshAnswers(sock, 4, 'c'), Array(4).fill('OK v1-m/c'));
      }
      assert.equal(count('worker reloaded configuration'), 0);

      // A good one reaches both workers.
      writeFileSync(conf, text('v2-'));
      p.kill('SIGHUP');
      await waitFor(() => count('worker reloaded configuration') === 2, 'both workers to reload');
      assert.deepEqual(await freshAnswers(sock, 4, 'd'), Array(4).fill('OK v2-m/d'));
      assert.equal(await held.query('m', 'e'), 'OK v1-m/e', 'an open connection finishes on its config');

      // An edit nobody reloaded is not what a restarted worker serves: it gets the config the primary checked.
      writeFileSync(conf, text('unchecked-'));
      const victim = Number((await held.query('m', 'pid')).replace(/^OK /, ''));
      // A SIGHUP that reaches a worker (sent to the process group) leaves it serving: reloads are the primary's.
      process.kill(victim, 'SIGHUP');
      assert.equal(await held.query('m', 'pid'), `OK ${victim}`);
      assert.equal(await held.query('m', 'g'), 'OK v1-m/g');
      const closed = held.closed;
      process.kill(victim, 'SIGKILL');
      await closed;
      await waitFor(() => count('worker died; restarting') === 1, 'the death to be logged');
      const pids = new Set<string>();
      for (let i = 0; i < 200 && !(pids.size === 2 && !pids.has(`OK ${victim}`)); i++) {
        pids.clear();
        for (const c of await Promise.all([0, 1].map(() => SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 10000 })))) {
          pids.add(await c.query('m', 'pid'));
          assert.equal(await c.query('m', 'f'), 'OK v2-m/f');
          await c.close();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(!pids.has(`OK ${victim}`) && pids.size === 2, 'the restarted worker serves');
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log);
  });
});
