import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { fixture } from '../helpers/paths.js';
import { killStartedSmapds, startSmapdProcess } from '../helpers/spawned.js';

after(killStartedSmapds);

/** Start `smapd -f` on a config and wait for its JSON `smapd started` log line. */
async function startSmapd(conf: string): Promise<{ p: ChildProcess; log: () => string }> {
  const p = startSmapdProcess(conf);
  let log = '';
  p.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 200 && !log.includes('smapd started'); i++) {
    if (p.exitCode !== null) throw new Error(`smapd exited: ${log}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.match(log, /smapd started/);
  return { p, log: () => log };
}

async function waitFor(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SIGHUP reload', () => {
  let dir: string;
  let conf: string;
  let sock: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-reload-'));
    conf = path.join(dir, 'smapd.conf');
    sock = path.join(dir, 's.sock');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const base = () =>
    `prepend-load-path ${fixture('modules')}\nserver u unix://${sock}\nmodule t testmod\nmodule echo echo\n`;

  it('applies a good config, keeps a bad one out (logged with file:line), and never drops a connection', async () => {
    writeFileSync(conf, base() + 'database d t v1-\ndispatch default database d\n');
    const { p, log } = await startSmapd(conf);
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    try {
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c.query('m', 'k'), 'OK v1-m/k');
      // A request in flight across the reload is answered.
      writeFileSync(conf, base() + 'database d t v2-\ndispatch default database d\n');
      const inflight = c.query('m', 'sleep:200');
      p.kill('SIGHUP');
      await waitFor(() => log().includes('configuration reloaded'), 'reload');
      assert.equal(await inflight, 'OK slept 200');
      // The open connection finishes on the config it started with; a new one gets the new config.
      assert.equal(await c.query('m', 'k'), 'OK v1-m/k');
      const c2 = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c2.query('m', 'k'), 'OK v2-m/k');

      // A broken config: the error names file and line, the running config stays.
      writeFileSync(conf, base() + 'database d t\nfrobnicate on\ndispatch default database nodb\n');
      p.kill('SIGHUP');
      await waitFor(() => log().includes('reload rejected'), 'rejected reload');
      assert.match(log(), new RegExp(`${conf.replaceAll('/', '\\/')}:6: .*frobnicate`));
      const c3 = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c3.query('m', 'k'), 'OK v2-m/k');
      await Promise.all([c.close(), c2.close(), c3.close()]);
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('refuses, as a start does, an empty file and a config without server, and keeps serving', async () => {
    writeFileSync(conf, base() + 'database d t v1-\ndispatch default database d\n');
    const { p, log } = await startSmapd(conf);
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    const rejections = () => log().split('\n').filter((l) => l.includes('reload rejected')).length;
    try {
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c.query('m', 'k'), 'OK v1-m/k');
      for (const [i, text] of ['', `module echo echo\ndatabase d echo\ndispatch default database d\n`].entries()) {
        writeFileSync(conf, text);
        p.kill('SIGHUP');
        await waitFor(() => rejections() === i + 1, `rejected reload ${i + 1}`);
        assert.match(log(), new RegExp(`${conf.replaceAll('/', '\\/')}: no servers configured`));
        // The open connection and a new one both answer from the running configuration.
        assert.equal(await c.query('m', `k${i}`), `OK v1-m/k${i}`);
        const fresh = await SmapClient.connect({ url: `unix://${sock}` });
        assert.equal(await fresh.query('m', 'k'), 'OK v1-m/k');
        await fresh.close();
      }
      assert.doesNotMatch(log(), /configuration reloaded/);
      await c.close();
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('does not drop a SIGHUP that comes while a reload is under way: the last edit is served', async () => {
    // Setting up `slow` takes 400 ms, so the second SIGHUP surely arrives while the first reload runs.
    const text = (n: string) => base() + `module s slowinit\ndatabase slow s 400\ndatabase d t ${n}\ndispatch default database d\n`;
    writeFileSync(conf, text('v1-'));
    const { p, log } = await startSmapd(conf);
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    const count = (what: string) => log().split('\n').filter((l) => l.includes(what)).length;
    try {
      writeFileSync(conf, text('v2-'));
      p.kill('SIGHUP');
      await waitFor(() => count('SIGHUP: reloading configuration') === 1, 'the first reload to begin');
      writeFileSync(conf, text('v3-'));
      p.kill('SIGHUP');
      await waitFor(() => count('configuration reloaded') === 2, 'a second reload');
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c.query('m', 'k'), 'OK v3-m/k');
      await c.close();
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('keeps a file map serving when its file is missing at reload, and logs it', async () => {
    const map = path.join(dir, 'aliases.txt');
    writeFileSync(map, 'alice alice@example.org\n');
    const withMap = (n: string) => base() + `module f file\ndatabase a f file=${map} allow-missing\ndatabase d t ${n}\ndispatch map aliases database a\ndispatch default database d\n`;
    writeFileSync(conf, withMap('v1-'));
    const { p, log } = await startSmapd(conf);
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    try {
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c.query('aliases', 'alice'), 'OK alice@example.org');
      await c.close();
      unlinkSync(map);
      writeFileSync(conf, withMap('v2-'));
      p.kill('SIGHUP');
      await waitFor(() => log().includes('configuration reloaded'), 'reload');
      const c2 = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c2.query('m', 'k'), 'OK v2-m/k', 'the new configuration serves');
      assert.equal(await c2.query('aliases', 'alice'), 'OK alice@example.org', 'the map keeps its data');
      await c2.close();
      assert.match(log(), /cannot load map file after the configuration reload; keeping the 1 entries loaded before it/);
      assert.match(log(), /ENOENT/);
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('reopens its log file on SIGHUP, so logrotate can move it away', async () => {
    const logFile = path.join(dir, 'smapd.log');
    writeFileSync(conf, base() + `log-file ${logFile}\ndatabase d t v1-\ndispatch default database d\n`);
    const p = startSmapdProcess(conf);
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
    try {
      await waitFor(() => read(logFile).includes('smapd started'), 'start');
      renameSync(logFile, logFile + '.1');
      p.kill('SIGHUP');
      await waitFor(() => read(logFile).includes('configuration reloaded'), 'a new log file');
      assert.doesNotMatch(read(logFile + '.1'), /configuration reloaded/);
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    assert.match(read(logFile), /smapd stopped/);
  });
});
