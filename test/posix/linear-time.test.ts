/**
 * The daemon, as a separate process on a real socket, under keys that made V8's backtracking engine stall
 * every client: `^(a+)+$` with a 30-byte key (29 s), `s/(a|aa)+$/X/` with a 36-byte key (3.5 s) and a
 * 61-byte one (never finished, and SIGTERM was ignored), a many-star glob with a long key, and a `g`
 * substitution whose searches each read to the end of a long key (quadratic: cut by the sed time limit).
 * Another client must be answered all along, and the daemon must stop on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');

const CONFIG = (sock: string): string => `
server u unix://${sock}
module echo echo
module sed sed
database fine echo OK fine
database nested echo OK nested
database glob echo OK glob
database sed sed 's/(a|aa)+$/X/'
database sedg sed 's/(a.*c|a)/x/g'
dispatch map eq nested key regexp '/^(a+)+$/' database nested
dispatch map eq glob key like '*a*a*a*a*a*a*a*a*b' database glob
dispatch map eq sed database sed
dispatch map eq sedg database sedg
dispatch default database fine
`;

/** Start `smapd -f` and resolve on its `smapd started` log line (or reject when it exits first). */
function startSmapd(conf: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      log += d;
      if (log.includes('smapd started')) resolve(p);
    });
    p.on('exit', (code) => reject(new Error(`smapd exited with ${code}: ${log}`)));
  });
}

describe('patterns run in linear time (daemon, real socket)', () => {
  let dir: string;
  let smapd: ChildProcess | undefined;
  const clients: SmapClient[] = [];

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-linear-'));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    // Whatever happened: a daemon stuck in a pattern would ignore SIGTERM, so make sure it goes.
    if (smapd && smapd.exitCode === null && smapd.signalCode === null) smapd.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers pathological keys quickly while another client is answered, and stops on SIGTERM', { timeout: 60_000 }, async () => {
    const sock = path.join(dir, 's.sock');
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(conf, CONFIG(sock));
    smapd = await startSmapd(conf);
    const exited = new Promise<number | null>((r) => smapd!.on('exit', (code) => r(code)));

    const attacker = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 20_000 });
    const bystander = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 10_000 });
    clients.push(attacker, bystander);

    const a = (n: number): string => 'a'.repeat(n);
    const cases: ReadonlyArray<readonly [string, string, string | RegExp]> = [
      ['nested', a(29) + '!', 'OK fine'],
      ['nested', a(30), 'OK nested'],
      ['nested', a(50_000) + '!', 'OK fine'],
      ['sed', a(35) + 'b', 'NOTFOUND '],
      ['sed', a(60) + 'b', 'NOTFOUND '],
      ['sed', a(50_000) + 'b', 'NOTFOUND '],
      ['sed', 'b' + a(60), 'OK bX'],
      ['glob', a(50_000), 'OK fine'],
      ['glob', a(20) + 'b', 'OK glob'],
      ['sedg', a(50_000), /^TEMP /],
      ['sedg', 'aac', 'OK x'],
    ];
    const t0 = performance.now();
    // All of them in flight at once, on one connection, before the other client asks anything.
    const attack = attacker.pipeline(cases.map(([map, key]) => [map, key] as const));

    // The other client is answered, one request after another, while the attack is being served.
    const waits: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      assert.equal(await bystander.query('other', `k${i}`), 'OK fine');
      waits.push(performance.now() - t);
    }
    const replies = await attack;
    const total = performance.now() - t0;

    assert.equal(replies.length, cases.length);
    cases.forEach(([map, key, want], i) => {
      const what = `${map} ${key.length > 40 ? `${key.slice(0, 10)}... (${key.length} bytes)` : key}`;
      if (typeof want === 'string') assert.equal(replies[i], want, what);
      else assert.match(replies[i]!, want, what);
    });
    // Generous bounds on a shared machine: the backtracking engine needed 29 s for one of these keys, and
    // never finished another; the linear one needs milliseconds.
    assert.ok(Math.max(...waits) < 5_000, `the other client waited ${Math.max(...waits).toFixed(0)} ms`);
    assert.ok(total < 20_000, `the pathological keys took ${total.toFixed(0)} ms`);

    smapd.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
