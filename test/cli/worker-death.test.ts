import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { connectRaw } from '../helpers/raw.js';
import { fixture } from '../helpers/paths.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');

async function waitFor(pred: () => boolean, what: string, ms = 15000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * One request on a new connection; resolves with the reply, or with 'closed' when the server closes the
 * connection without one (the client retries then). Rejects when neither happens within `ms`.
 */
function askOnce(sock: string, key: string, ms: number): Promise<string> {
  return connectRaw(`unix://${sock}`).then(
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
  let p: ChildProcess | undefined;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-wdeath-'));
  });
  after(async () => {
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p!.once('exit', r));
      p.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('strands no connection: each new one is answered or closed, and the worker is restarted', async () => {
    const sock = path.join(dir, 's.sock');
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(
      conf,
      `prepend-load-path ${fixture('modules')}\nworkers 2\nserver u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`,
    );
    p = spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    await waitFor(() => log.includes('smapd started') || p!.exitCode !== null, 'start');
    assert.match(log, /smapd started/);

    // Find both workers' pids.
    const pids = new Set<number>();
    for (let i = 0; i < 50 && pids.size < 2; i++) {
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      pids.add(Number((await c.query('m', 'pid')).replace(/^OK /, '')));
      await c.close();
    }
    assert.equal(pids.size, 2);
    const victim = [...pids][0]!;

    process.kill(victim, 'SIGKILL');
    // Connections opened in the next moments, in a burst and then spread out: each gets its answer or a close.
    const outcomes: Array<Promise<string>> = [];
    for (let i = 0; i < 40; i++) {
      outcomes.push(askOnce(sock, `k${i}`, 10000));
      if (i % 4 === 3) await new Promise((r) => setTimeout(r, 50));
    }
    const results = await Promise.all(outcomes);
    for (const [i, r] of results.entries()) {
      assert.ok(r === 'closed' || r === `${`OK m/k${i}`.length + ''}:OK m/k${i},`, `connection ${i}: ${r}`);
    }
    assert.ok(results.some((r) => r !== 'closed'), 'the surviving worker answers');

    // The dead worker is replaced: a new pid answers besides the survivor.
    await waitFor(() => log.includes('worker died; restarting'), 'the death to be logged');
    const survivor = [...pids][1]!;
    let fresh: number | undefined;
    for (let i = 0; i < 200 && fresh === undefined; i++) {
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      const pid = Number((await c.query('m', 'pid')).replace(/^OK /, ''));
      await c.close();
      if (pid !== survivor && pid !== victim) fresh = pid;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(fresh !== undefined, 'a restarted worker serves');
  });
});
