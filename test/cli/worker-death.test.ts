import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { connectRaw } from '../helpers/raw.js';
import { fixture } from '../helpers/paths.js';
import { killStartedSmapds, startSmapdProcess } from '../helpers/spawned.js';

async function waitFor(pred: () => boolean, what: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** TCP sockets on `port` in state CLOSE-WAIT (the peer closed, nobody closed this side), from /proc/net/tcp. */
function closeWaits(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[1]!.endsWith(`:${hex}`) && cols[3] === '08') n++;
    }
  }
  return n;
}

/**
 * One request on a new connection; resolves with the reply, or with 'closed' when the server closes the
 * connection without one (the client retries then). Rejects when neither happens within `ms`.
 */
function askOnce(url: string, key: string, ms: number): Promise<string> {
  return connectRaw(url).then(
    (s) =>
      new Promise<string>((resolve, reject) => {
        let data = '';
        const t = setTimeout(() => {
          s.destroy();
          reject(new Error(`connection neither answered nor closed within ${ms} ms (got ${JSON.stringify(data)})`));
        }, ms);
        s.on('data', (d) => {
          data += d.toString('utf8');
          if (data.endsWith(',')) {
            clearTimeout(t);
            s.destroy();
            resolve(data);
          }
        });
        s.on('error', () => undefined);
        s.on('close', () => {
          clearTimeout(t);
          resolve(data === '' ? 'closed' : data);
        });
        s.write(encodeNetstring(`m ${key}`));
      }),
    () => 'refused',
  );
}

describe('workers 2: a worker killed with SIGKILL', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-wdeath-'));
  });
  after(async () => {
    await killStartedSmapds();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['unix', 'inet'] as const) {
    it(`strands no ${kind} connection: each new one is answered or closed, none stays in CLOSE-WAIT, and the worker is restarted`, async () => {
      const sock = path.join(dir, `${kind}.sock`);
      const conf = path.join(dir, `${kind}.conf`);
      const listen = kind === 'unix' ? `unix://${sock}` : 'inet://127.0.0.1:0';
      writeFileSync(
        conf,
        `prepend-load-path ${fixture('modules')}\nworkers 2\nserver u ${listen}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`,
      );
      const p = startSmapdProcess(conf);
      let log = '';
      p.stderr!.on('data', (d) => (log += d));
      const exited = new Promise<number | null>((r) => p.on('exit', r));
      try {
        await waitFor(() => log.includes('smapd started') || p.exitCode !== null, 'start');
        const url = /"addresses":\{"u":"([^"]+)"/.exec(log)?.[1];
        assert.ok(url, log);
        const port = kind === 'inet' ? Number(/:(\d+)$/.exec(url)![1]) : 0;

        // Find both workers' pids.
        const pids = new Set<number>();
        for (let i = 0; i < 50 && pids.size < 2; i++) {
          const c = await SmapClient.connect({ url, timeoutMs: 10000 });
          pids.add(Number((await c.query('m', 'pid')).replace(/^OK /, '')));
          await c.close();
        }
        assert.equal(pids.size, 2);
        const [victim, survivor] = [...pids] as [number, number];

        process.kill(victim, 'SIGKILL');
        // Connections opened in the next moments, in a burst and then spread out: each gets its answer or a close.
        const outcomes: Array<Promise<string>> = [];
        for (let i = 0; i < 40; i++) {
          outcomes.push(askOnce(url, `k${i}`, 10000));
          if (i % 4 === 3) await new Promise((r) => setTimeout(r, 50));
        }
        const results = await Promise.all(outcomes);
        for (const [i, r] of results.entries()) {
          const answer = `OK m/k${i}`;
          assert.ok(r === 'closed' || r === `${answer.length}:${answer},`, `connection ${i}: ${r}`);
        }
        assert.ok(results.some((r) => r !== 'closed'), 'the surviving worker answers');
        if (kind === 'inet') await waitFor(() => closeWaits(port) === 0, 'no socket left in CLOSE-WAIT');

        // The dead worker is replaced: a new pid answers besides the survivor.
        await waitFor(() => log.includes('worker died; restarting'), 'the death to be logged');
        let fresh: number | undefined;
        for (let i = 0; i < 200 && fresh === undefined; i++) {
          const c = await SmapClient.connect({ url, timeoutMs: 10000 });
          const pid = Number((await c.query('m', 'pid')).replace(/^OK /, ''));
          await c.close();
          if (pid !== survivor && pid !== victim) fresh = pid;
          else await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(fresh !== undefined, 'a restarted worker serves');
      } finally {
        p.kill('SIGTERM');
      }
      assert.equal(await exited, 0, log);
    });
  }

  it('passes over a worker that stops taking connections (SIGSTOP), and loses none of those it was given', async () => {
    const sock = path.join(dir, 'stop.sock');
    const conf = path.join(dir, 'stop.conf');
    writeFileSync(conf, `prepend-load-path ${fixture('modules')}\nworkers 2\nserver u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`);
    const p = startSmapdProcess(conf);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    let stopped: number | undefined;
    try {
      await waitFor(() => log.includes('smapd started') || p.exitCode !== null, 'start');
      const url = `unix://${sock}`;
      const c = await SmapClient.connect({ url, timeoutMs: 10000 });
      stopped = Number((await c.query('m', 'pid')).replace(/^OK /, ''));
      await c.close();
      process.kill(stopped, 'SIGSTOP');
      // New connections, some of which the stopped worker is given, until the primary notices (2 s).
      const outcomes: Array<Promise<string>> = [];
      const until = Date.now() + 15000;
      while (!log.includes('passing it over') && Date.now() < until) {
        outcomes.push(askOnce(url, `s${outcomes.length}`, 30000));
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(log, /worker has not taken a connection for 2 s; passing it over/);
      // From now on the other worker gets every new connection, while this one is still stopped.
      const now = await Promise.all(Array.from({ length: 20 }, (_, i) => askOnce(url, `n${i}`, 10000)));
      for (const [i, r] of now.entries()) assert.equal(r, `${`OK m/n${i}`.length}:OK m/n${i},`, `connection n${i}`);
      // Resumed, it answers what it was given: nothing was lost.
      process.kill(stopped, 'SIGCONT');
      stopped = undefined;
      for (const [i, r] of (await Promise.all(outcomes)).entries()) {
        assert.equal(r, `${`OK m/s${i}`.length}:OK m/s${i},`, `connection s${i}`);
      }
      await waitFor(() => log.includes('worker takes connections again'), 'the worker to be back in turn');
    } finally {
      if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log);
  });

  it('hands no connection to a restarted worker before it is ready: the survivor answers them all', async () => {
    const sock = path.join(dir, 'ready.sock');
    const conf = path.join(dir, 'ready.conf');
    // Setting up `slow` takes 1.5 s, so the restarted worker is a while alive and not ready.
    writeFileSync(
      conf,
      `prepend-load-path ${fixture('modules')}\nworkers 2\nserver u unix://${sock}\nmodule t testmod\nmodule s slowinit\n` +
        `database slow s 1500\ndatabase d t\ndispatch default database d\n`,
    );
    const p = startSmapdProcess(conf);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    try {
      await waitFor(() => log.includes('smapd started') || p.exitCode !== null, 'start');
      const url = `unix://${sock}`;
      const c = await SmapClient.connect({ url, timeoutMs: 10000 });
      const victim = Number((await c.query('m', 'pid')).replace(/^OK /, ''));
      await c.close();
      process.kill(victim, 'SIGKILL');
      await waitFor(() => log.includes('worker died; restarting'), 'the death to be logged');
      // From the death through the replacement's fork (1 s later) and its 1.5 s set-up, and a little beyond.
      const outcomes: Array<Promise<string>> = [];
      const until = Date.now() + 3500;
      for (let i = 0; Date.now() < until; i++) {
        outcomes.push(askOnce(url, `r${i}`, 10000));
        await new Promise((r) => setTimeout(r, 50));
      }
      const results = await Promise.all(outcomes);
      for (const [i, r] of results.entries()) {
        const answer = `OK m/r${i}`;
        assert.equal(r, `${answer.length}:${answer},`, `connection ${i}`);
      }
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, log);
  });
});
