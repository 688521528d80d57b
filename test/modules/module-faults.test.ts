/**
 * A module cannot take the daemon down: a real `smapd -f -c FILE` with a module that throws from a timer,
 * leaves a rejected promise, answers a plain string or nothing, throws BackendTimeoutError, and hangs in
 * closeDb. Each fault is logged with the module and database id, the faulty database answers TEMP until it
 * has been closed and opened again, every other database answers throughout, and SIGTERM still stops it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SmapClient } from '../../src/client/client.js';
import { fixture } from '../helpers/paths.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');
const FAULTY = path.resolve(import.meta.dirname, '../fixtures/faulty/faulty-module.js');
/** Generous bound for anything the daemon does by itself. */
const WAIT_MS = 15_000;

/** A smapd child whose JSON log lines are collected; `waitForLine` resolves on the first line matching. */
class Daemon {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly exited: Promise<number | null>;
  private pending = '';
  private waiters: Array<{ test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];

  constructor(readonly p: ChildProcess) {
    this.exited = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (chunk: string) => {
      this.pending += chunk;
      let nl: number;
      while ((nl = this.pending.indexOf('\n')) >= 0) {
        const text = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          line = { msg: text };
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => !(w.test(line) && (w.resolve(line), true)));
      }
    });
  }

  waitForLine(test: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line: ${what}\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`)), WAIT_MS);
      this.waiters.push({ test, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void this.exited.then((code) => reject(new Error(`smapd exited (${code}) before: ${what}`)));
    });
  }
}

/** Ask until the answer matches, or fail after WAIT_MS; returns the answers seen. */
async function askUntil(c: SmapClient, map: string, key: string, want: RegExp): Promise<string[]> {
  const seen: string[] = [];
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const r = await c.query(map, key);
    seen.push(r);
    if (want.test(r)) return seen;
    if (Date.now() > until) assert.fail(`no answer matching ${want} (answers: ${seen.join(' | ')})`);
    await sleep(50);
  }
}

describe('a module cannot take the daemon down (real smapd -f)', () => {
  let dir: string;
  let sock: string;
  let d: Daemon;
  let c: SmapClient;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-faults-'));
    sock = path.join(dir, 's.sock');
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(
      conf,
      [
        `prepend-load-path ${fixture('modules')}`,
        `server u unix://${sock}`,
        'shutdown-timeout 1',
        `module f ${FAULTY}`,
        'module t testmod',
        'database bad f gated-close',
        'database gate f',
        'database hang f hang-close',
        'database other t',
        'dispatch map bad database bad',
        'dispatch map gate database gate',
        'dispatch map hang database hang',
        'dispatch default database other',
        '',
      ].join('\n'),
    );
    d = new Daemon(spawn(process.execPath, [SMAPD, '-f', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
    await d.waitForLine((l) => l.msg === 'smapd started', 'smapd started');
    c = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: WAIT_MS });
  });

  after(async () => {
    await c?.close().catch(() => undefined);
    if (d !== undefined && d.p.exitCode === null) d.p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('an exception from a module timer is logged with module and database; that database answers TEMP until it has reopened', async () => {
    assert.equal(await c.query('bad', 'hello'), 'OK hello');
    assert.equal(await c.query('bad', 'timer-throw'), 'OK scheduled');
    const line = await d.waitForLine((l) => l.origin === 'uncaughtException', 'the timer fault');
    assert.equal(line.module, 'f');
    assert.equal(line.db, 'bad');
    assert.match(String(line.err), /timer failure in bad/);
    // closeDb of `bad` waits for the gate, so the database is still resetting: TEMP, whatever the timing.
    assert.equal(await c.query('bad', 'hello'), 'TEMP database unavailable');
    assert.equal(await c.query('other', 'k'), 'OK other/k', 'every other database answers');
    assert.equal(await c.query('gate', 'open-gate'), 'OK gate open');
    await askUntil(c, 'bad', 'hello', /^OK hello$/);
    assert.equal(await c.query('bad', 'opens'), 'OK opens=2 closes=1', 'closed and opened again');
    assert.equal(d.p.exitCode, null);
  });

  it('a rejected promise the module forgot is logged with module and database, and the daemon goes on', async () => {
    assert.equal(await c.query('gate', 'reject'), 'OK left');
    const line = await d.waitForLine((l) => l.origin === 'unhandledRejection', 'the rejection');
    assert.equal(line.module, 'f');
    assert.equal(line.db, 'gate');
    assert.match(String(line.err), /forgotten rejection in gate/);
    assert.equal(await c.query('other', 'k'), 'OK other/k');
    await askUntil(c, 'gate', 'hello', /^OK hello$/);
  });

  it('a plain string or nothing from query is answered TEMP, never sent, and logged', async () => {
    assert.equal(await c.query('hang', 'plain'), 'TEMP database error');
    const line = await d.waitForLine((l) => /a string that is not a reply/.test(String(l.err)), 'the plain-string line');
    assert.equal(line.db, 'hang');
    assert.equal(line.module, 'f');
    assert.equal(await c.query('hang', 'undefined'), 'TEMP database error');
    await d.waitForLine((l) => /query answered undefined/.test(String(l.err)), 'the undefined line');
  });

  it("a module's BackendTimeoutError answers TIMEOUT, with no host:port", async () => {
    assert.equal(await c.query('hang', 'backend-timeout'), 'TIMEOUT database timeout');
    const line = await d.waitForLine((l) => /192\.0\.2\.1:5432/.test(String(l.err)), 'the timeout detail in the log');
    assert.equal(line.msg, 'database query timed out');
  });

  it('SIGTERM stops the daemon although a closeDb never finishes', async () => {
    const started = Date.now();
    d.p.kill('SIGTERM');
    const code = await Promise.race([d.exited, sleep(WAIT_MS).then(() => 'still running')]);
    assert.equal(code, 0);
    assert.ok(Date.now() - started < WAIT_MS);
    const line = d.lines.find((l) => l.msg === 'closeDb did not finish; going on without it');
    assert.ok(line !== undefined, 'the hung closeDb is logged');
    assert.equal(line.db, 'hang');
  });
});
