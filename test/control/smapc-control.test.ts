import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { controlMain, formatDuration, formatStatus, parseControlArgv, smapcControl } from '../../src/cli/smapc-control.js';
import { startControlServer, type ControlServer } from '../../src/control/server.js';
import { collectStatus } from '../../src/control/target.js';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { silentLogger } from '../helpers/module-context.js';
import { makeFixture, type Fixture } from './fixture.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

let dir: string;
let sock: string;
let fx: Fixture;
let server: ControlServer;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapc-control-'));
  sock = path.join(dir, 'control.sock');
  fx = await makeFixture();
  server = await startControlServer(sock, fx.target, silentLogger);
});
after(async () => {
  await server.close();
  await fx.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('smapc --control', () => {
  it('prints the text of an OK reply and exits 0', async () => {
    const c = capture();
    assert.equal(await controlMain(sock, ['db', 'mem', 'bind', 'k', 'value with  spaces'], c.io), 0);
    assert.equal(c.out(), 'added k value with  spaces\n');
    const c2 = capture();
    assert.equal(await controlMain(sock, ['db', 'mem', 'resolve', 'k'], c2.io), 0);
    assert.equal(c2.out(), 'value with  spaces\n');
    assert.equal(c2.err(), '');
  });

  it('keeps words with spaces and quotes intact on their way to the server', async () => {
    const c = capture();
    assert.equal(await controlMain(sock, ['db', 'mem', 'bind', 'a "quoted" key', 'v'], c.io), 0);
    assert.equal(c.out(), 'added "a \\"quoted\\" key" v\n');
    const c2 = capture();
    await controlMain(sock, ['db', 'mem', 'resolve', 'a "quoted" key'], c2.io);
    assert.equal(c2.out(), 'v\n');
  });

  it('prints nothing for an empty OK text', async () => {
    const c = capture();
    assert.equal(await controlMain(sock, ['db', 'mem', 'clear'], c.io), 0);
    const c2 = capture();
    assert.equal(await controlMain(sock, ['db', 'mem', 'list'], c2.io), 0);
    assert.equal(c2.out(), '');
  });

  it('reports ERR on stderr and exits 1', async () => {
    const c = capture();
    assert.equal(await controlMain(sock, ['db', 'nosuch', 'list'], c.io), 1);
    assert.equal(c.out(), '');
    assert.equal(c.err(), 'smapc: no such database: nosuch (databases: mem, lookup)\n');
  });

  it('exits 69 when the socket cannot be reached, and 64 without a command', async () => {
    const c = capture();
    assert.equal(await controlMain(path.join(dir, 'gone.sock'), ['status'], c.io), 69);
    assert.match(c.err(), /^smapc: control socket .*gone\.sock does not exist/);
    const c2 = capture();
    assert.equal(await controlMain(sock, [], c2.io), 64);
    assert.match(c2.err(), /--control needs a command/);
  });

  it('exits 69 when the peer is not a smapd control socket', async () => {
    const odd = path.join(dir, 'odd.sock');
    // resume(): a server that never reads would never see the client's EOF, and close() would wait for ever.
    const s = net.createServer((c) => c.resume().end(encodeNetstring('HELLO there')));
    await new Promise<void>((r) => s.listen(odd, r));
    try {
      const c = capture();
      assert.equal(await controlMain(odd, ['status'], c.io), 69);
      assert.match(c.err(), /gave an unexpected reply \(is it a smapd control socket\?\): HELLO there/);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('shows status as a table, or as JSON with --json', async () => {
    await fx.query('lookup', 'k1');
    await fx.query('lookup', 'k1');
    const c = capture();
    assert.equal(await controlMain(sock, ['status'], c.io), 0);
    const text = c.out();
    assert.match(text, /^smapd \S+, pid \d+, up \d+s \(since \d{4}-\d\d-\d\dT/);
    assert.match(text, /\nconnections: 0 open, 0 total, 0 rejected, 0 evicted, 0 stalled, 0 timed out\n/);
    assert.match(text, /\nreplies: {5}OK 2, NOTFOUND 0, NOMORE 0, TEMP 0, TIMEOUT 0, PERM 0, other 0\n/);
    const table = text.split('\n\n')[1]!.split('\n');
    assert.match(table[0]!, /^DATABASE\s+MODULE\s+OPEN\s+QUERIES\s+XFORMS\s+ERRORS\s+TIMEOUTS\s+CACHE HITS\s+MISSES\s+ENTRIES\s+BYTES\s+ADMIT$/);
    assert.match(table.find((l) => l.startsWith('lookup'))!, /^lookup\s+lk\s+yes\s+2\s+0\s+0\s+0\s+1\s+1\s+1\s+\d+\s+all$/);
    assert.match(table.find((l) => l.startsWith('mem'))!, /^mem\s+memory\s+yes\s+0\s+0\s+0\s+0\s+-\s+-\s+-\s+-\s+-$/);

    const j = capture();
    assert.equal(await controlMain(sock, ['status', '--json'], j.io), 0);
    const parsed = JSON.parse(j.out());
    assert.equal(parsed.databases.lookup.queries, 2);
    assert.ok(j.out().includes('\n  "version"'), 'indented for people');
  });
});

describe('status formatting', () => {
  it('writes durations with the largest units first', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(59), '59s');
    assert.equal(formatDuration(3600), '1h 0m 0s');
    assert.equal(formatDuration(2 * 86400 + 3 * 3600 + 4 * 60 + 5), '2d 3h 4m 5s');
  });

  it('marks a stopping daemon and a daemon without databases', () => {
    const s = collectStatus({ stats: () => fx.stats, databases: () => new Map(), stopping: () => true });
    const text = formatStatus(s);
    assert.match(text.split('\n')[0]!, /, STOPPING$/);
    assert.match(text, /\ndatabases: {3}none$/);
  });

  it("shows a full cache's admission sample as 1/N", () => {
    const s = collectStatus({ stats: () => fx.stats, databases: () => new Map(), stopping: () => false });
    const cache = { hits: 10, misses: 90, entries: 5, bytes: 640, evictions: 85, admitted: 20, declined: 70, admitOneIn: 8 };
    const withCache = { ...s, databases: { sampled: { module: 'sqlite', open: true, queries: 100, transforms: 0, errors: 0, timeouts: 0, cache } } };
    const line = formatStatus(withCache).split('\n').find((l) => l.startsWith('sampled'))!;
    assert.match(line, /^sampled\s+sqlite\s+yes\s+100\s+0\s+0\s+0\s+10\s+90\s+5\s+640\s+1\/8$/);
  });
});

describe('smapc --control arguments', () => {
  it('takes every word after --control as the command, options included', () => {
    assert.equal(parseControlArgv(['-S', 'unix:///x', 'map', 'key']), undefined);
    assert.deepEqual(parseControlArgv(['--control', 'db', 'm', 'bind', 'k', 'v', '--replace']), {
      socketPath: undefined,
      configFile: undefined,
      timeoutMs: undefined,
      words: ['db', 'm', 'bind', 'k', 'v', '--replace'],
    });
    assert.deepEqual(parseControlArgv(['-c', '/etc/x.conf', '--timeout=2.5', '--control=/run/c.sock', 'status', '--json']), {
      socketPath: '/run/c.sock',
      configFile: '/etc/x.conf',
      timeoutMs: 2500,
      words: ['status', '--json'],
    });
  });

  it('reports misuse', () => {
    assert.equal(parseControlArgv(['--control=', 'status']), '--control= needs a socket path');
    assert.equal(parseControlArgv(['-c', '--control', 'status']), '-c needs a value');
    assert.equal(parseControlArgv(['-t', 'soon', '--control', 'status']), "-t: not a number of seconds: 'soon'");
    assert.equal(parseControlArgv(['-B', '--control', 'status']), '-B cannot be used with --control (only -c FILE and -t SECONDS can)');
  });

  it('finds the socket in the config file when no path is given', async () => {
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(conf, 'control-socket control.sock\n');
    const c = capture();
    assert.equal(await smapcControl(['--control', 'db', 'mem', 'count'], c.io, conf), 0);
    assert.match(c.out(), /^\d+ of 5 bindings used\n$/);
    assert.equal(await smapcControl(['status'], c.io, conf), undefined);

    const bare = path.join(dir, 'bare.conf');
    writeFileSync(bare, 'idle-timeout 10\n');
    const c2 = capture();
    assert.equal(await smapcControl(['-c', bare, '--control', 'status'], c2.io, conf), 78);
    assert.match(c2.err(), /bare\.conf has no control-socket statement; give --control=PATH/);
    const c3 = capture();
    assert.equal(await smapcControl(['--control', 'status'], c3.io, path.join(dir, 'missing.conf')), 78);
    assert.match(c3.err(), /cannot read .*missing\.conf to find the control socket \(give --control=PATH\)/);
    const c4 = capture();
    assert.equal(await smapcControl(['--control='], c4.io, conf), 64);
  });
});
