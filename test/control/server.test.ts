import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { controlCommand } from '../../src/control/client.js';
import { startControlServer, type ControlServer } from '../../src/control/server.js';
import type { StatusReport } from '../../src/control/target.js';
import { ListenError } from '../../src/errors.js';
import { encodeNetstring, NetstringDecoder } from '../../src/protocol/netstring.js';
import { silentLogger } from '../helpers/module-context.js';
import { makeFixture, type Fixture } from './fixture.js';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapd-control-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let fx: Fixture;
let server: ControlServer;
let sock: string;
let n = 0;
beforeEach(async () => {
  fx = await makeFixture();
  sock = path.join(dir, `control-${n++}.sock`);
  server = await startControlServer(sock, fx.target, silentLogger);
});
afterEach(async () => {
  await server.close();
  await fx.close();
});

const ask = (line: string) => controlCommand(sock, line, 5000);

/** Send raw bytes; collect every netstring reply until the server closes. */
function exchange(bytes: string | Buffer): Promise<{ replies: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const replies: string[] = [];
    const dec = new NetstringDecoder(1 << 20);
    const t = setTimeout(() => {
      s.destroy();
      resolve({ replies, closed: false });
    }, 1000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => dec.push(d, (b, st, en) => replies.push(b.toString('utf8', st, en))));
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ replies, closed: true });
    });
  });
}

describe('control socket: the socket file', () => {
  it('is a socket with mode 0600, removed on close', async () => {
    const st = statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    await server.close();
    assert.equal(existsSync(sock), false);
  });

  it('restores the process umask after creating the socket', async () => {
    const before = process.umask(0o022);
    try {
      const other = await startControlServer(path.join(dir, 'umask.sock'), fx.target, silentLogger);
      assert.equal(process.umask(), 0o022);
      await other.close();
    } finally {
      process.umask(before);
    }
  });

  it('replaces a stale socket but refuses a live one or a regular file', async () => {
    await assert.rejects(startControlServer(sock, fx.target, silentLogger), (err: Error) => {
      assert.ok(err instanceof ListenError);
      assert.match(err.message, /control socket .* is in use by a running process/);
      return true;
    });
    // A stale socket, as a crash leaves it: a process bound it and exited without closing (node's own close
    // would remove the file).
    const stale = path.join(dir, 'stale.sock');
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
    assert.equal(r.status, 0);
    assert.ok(existsSync(stale), 'a dead socket file exists');
    const again = await startControlServer(stale, fx.target, silentLogger);
    assert.match(await controlCommand(stale, 'help', 5000), /^OK status/);
    await again.close();

    const file = path.join(dir, 'regular');
    writeFileSync(file, 'data');
    await assert.rejects(startControlServer(file, fx.target, silentLogger), /control socket .*regular: the file exists and is not a socket/);
    assert.equal(existsSync(file), true);
    await assert.rejects(startControlServer(path.join(dir, 'no/such/dir.sock'), fx.target, silentLogger), /cannot listen: /);
  });
});

describe('control socket: commands', () => {
  it('reports status as JSON with server and per-database counters', async () => {
    await fx.query('lookup', 'k1');
    await fx.query('lookup', 'k1');
    await fx.query('lookup', 'x');
    await fx.query('mem', 'nobody');
    fx.stats.connectionsTotal = 7;
    fx.stats.connectionsOpen = 2;
    fx.stats.connectionsRejected = 1;
    fx.stats.connectionsEvicted = 3;
    fx.stats.connectionsStalled = 1;
    fx.stats.requestTimeouts = 4;
    const reply = await ask('status');
    assert.ok(reply.startsWith('OK {'));
    const s = JSON.parse(reply.slice(3)) as StatusReport;
    assert.equal(s.pid, process.pid);
    assert.equal(typeof s.version, 'string');
    assert.ok(s.uptimeSeconds >= 0);
    assert.equal(s.stopping, false);
    assert.deepEqual(s.connections, { open: 2, total: 7, rejected: 1, evicted: 3, stalled: 1, requestTimeouts: 4 });
    assert.equal(s.requests, 4);
    assert.equal(s.replies['OK'], 2);
    assert.equal(s.replies['NOTFOUND'], 2);
    assert.deepEqual(s.databases['lookup'], {
      module: 'lk',
      open: true,
      queries: 3,
      transforms: 0,
      errors: 0,
      timeouts: 0,
      cache: { hits: 1, misses: 2, entries: 2, bytes: s.databases['lookup']!.cache!.bytes, evictions: 0, admitted: 2, declined: 0, admitOneIn: 1 },
    });
    assert.ok(s.databases['lookup']!.cache!.bytes > 0);
    assert.equal(s.databases['mem']!.cache, null);
    assert.equal(s.databases['mem']!.module, 'memory');
  });

  it('flushes one cache or all of them', async () => {
    await fx.query('lookup', 'k1');
    await fx.query('lookup', 'k1');
    assert.equal(fx.lookupState.calls, 1, 'the second lookup came from the cache');
    assert.equal(await ask('flush lookup'), 'OK flushed 1 entry from the cache of lookup');
    await fx.query('lookup', 'k1');
    assert.equal(fx.lookupState.calls, 2, 'after flush the backend is asked again');
    await fx.query('lookup', 'k2');
    assert.equal(await ask('flush'), 'OK flushed 2 entries from 1 cache');
    assert.equal(fx.databases.get('lookup')!.cache!.stats().entries, 0);
    assert.equal(await ask('flush mem'), 'OK database mem has no cache');
    assert.equal(await ask('flush nosuch'), 'ERR no such database: nosuch (databases: mem, lookup)');
    assert.equal(await ask('flush a b'), 'ERR usage: flush [DB]');
  });

  it('runs database commands, with quoted values', async () => {
    assert.equal(await ask('db mem bind alice "alice@example.org  (primary)"'), 'OK added alice alice@example.org  (primary)');
    assert.equal(await fx.query('mem', 'alice'), 'OK alice@example.org  (primary)');
    assert.equal(await ask('db mem bind "two words" v'), 'OK added "two words" v');
    assert.equal(await ask('db mem list'), 'OK alice alice@example.org  (primary)\n"two words" v');
    assert.equal(await ask('db mem resolve "two words"'), 'OK v');
    assert.equal(await ask('db mem bind alice other'), 'OK exists alice alice@example.org  (primary) (not changed; use --replace to change it)');
    assert.equal(await ask('db mem remove alice'), 'OK removed alice alice@example.org  (primary)');
    assert.equal(await ask('db mem count'), 'OK 1 of 5 bindings used');
    const list = await ask('db mem');
    assert.ok(list.startsWith('OK '));
    assert.deepEqual(
      list.slice(3).split('\n').map((l) => l.split(' ')[0]),
      ['bind', 'resolve', 'remove', 'list', 'count', 'clear', 'save'],
    );
    // Each line is the command's own help (ControlCommand.help), not just its name.
    assert.match(list, /^OK bind \[--replace\] KEY VALUE\.\.\. - bind KEY/);
    assert.match(list, /\nresolve KEY - print the value bound to KEY\n/);
    assert.equal(await ask('db mem help'), list);
  });

  it('drops a database cache after a command, so a change is seen at once', async () => {
    // A memory database with a cache: the NOTFOUND is cached, then a bind must not be hidden by it.
    const { default: memory } = await import('../../modules/memory/index.js');
    const { DatabaseHandleImpl } = await import('../../src/modules/handle.js');
    const { ResultCache } = await import('../../src/modules/cache.js');
    const { databaseContext } = await import('../helpers/module-context.js');
    const st = await memory.initDb(['capacity=5'], databaseContext('cached'));
    const h = new DatabaseHandleImpl('cached', 'memory', memory, st, silentLogger, 0, new ResultCache({ ttl: 60_000, negativeTtl: 60_000, size: 10, bytes: 1 << 20 }));
    fx.databases.set('cached', h);
    await h.open();
    assert.equal(await fx.query('cached', 'k'), 'NOTFOUND ');
    assert.equal(await ask('db cached bind k v'), 'OK added k v');
    assert.equal(await fx.query('cached', 'k'), 'OK v');
  });

  it('answers errors with ERR and a reason', async () => {
    assert.equal(await ask('frobnicate'), "ERR unknown command 'frobnicate' (commands: status, flush, db, help)");
    assert.equal(await ask(''), "ERR empty command; try 'help'");
    assert.equal(await ask('status now'), 'ERR status takes no arguments');
    assert.equal(await ask('db'), 'ERR usage: db NAME COMMAND [ARGS...]');
    assert.equal(await ask('db nosuch list'), 'ERR no such database: nosuch (databases: mem, lookup)');
    assert.equal(await ask('db lookup list'), 'ERR database lookup (module lk) has no commands');
    assert.equal(
      await ask('db mem explode'),
      "ERR database mem has no command 'explode' (it has: bind, resolve, remove, list, count, clear, save)",
    );
    assert.equal(await ask('db mem resolve nobody'), 'ERR no binding for nobody');
    assert.equal(await ask('db mem bind "unterminated'), 'ERR unterminated quote starting at column 13');
    for (let i = 0; i < 5; i++) await ask(`db mem bind key${i} v`);
    assert.equal(await ask('db mem bind one-more v'), 'ERR table full: 5 of capacity=5 bindings used; remove bindings or raise capacity');
  });

  it('lists commands and databases in help', async () => {
    const reply = await ask('help');
    assert.match(reply, /^OK status /);
    assert.match(reply, /flush \[DB\]/);
    assert.match(reply, /db NAME COMMAND \[ARGS\.\.\.\]/);
    assert.match(reply, /Databases with commands:\n {2}mem: bind, resolve, remove, list, count, clear, save$/);
  });
});

describe('control socket: framing', () => {
  it('answers pipelined requests in order on one connection', async () => {
    const { replies, closed } = await exchange(['db mem bind a slow', 'db mem list', 'status'].map(encodeNetstring).join(''));
    // The client half-closed nothing, so the connection stays open until the test's timer.
    assert.equal(closed, false);
    assert.equal(replies[0], 'OK added a slow');
    assert.equal(replies[1], 'OK a slow');
    assert.match(replies[2]!, /^OK \{"version"/);
  });

  it('answers what came before a malformed netstring, then says why and closes', async () => {
    const { replies, closed } = await exchange('4:help,xyz');
    assert.equal(closed, true);
    assert.equal(replies.length, 2);
    assert.match(replies[0]!, /^OK status/);
    assert.equal(replies[1], "ERR invalid character 'x' in netstring length");
  });

  it('refuses an oversize request before reading it', async () => {
    const small = await startControlServer(path.join(dir, 'small.sock'), fx.target, silentLogger, { maxRequestSize: 16 });
    try {
      const { replies, closed } = await new Promise<{ replies: string[]; closed: boolean }>((resolve) => {
        const s = net.connect(path.join(dir, 'small.sock'));
        const out: string[] = [];
        const dec = new NetstringDecoder(1 << 20);
        s.on('connect', () => s.write('1000000:db mem bind'));
        s.on('data', (d: Buffer) => dec.push(d, (b, st, en) => out.push(b.toString('utf8', st, en))));
        s.on('close', () => resolve({ replies: out, closed: true }));
      });
      assert.equal(closed, true);
      assert.deepEqual(replies, ['ERR request length exceeds 16 bytes']);
    } finally {
      await small.close();
    }
  });

  it('finishes replies for a client that half-closes after its request', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(sock);
      let data = '';
      s.on('connect', () => s.end('4:help,'));
      s.on('data', (d) => (data += d.toString()));
      s.on('error', reject);
      s.on('close', () => resolve(data));
    });
    assert.match(reply, /^\d+:OK status/);
    assert.ok(reply.endsWith(','));
  });
});

describe('control client', () => {
  it('explains an absent socket', async () => {
    await assert.rejects(controlCommand(path.join(dir, 'absent.sock'), 'status', 1000), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_CONTROL_UNAVAILABLE');
      assert.match(err.message, /absent\.sock does not exist \(is smapd running, with control-socket set\?\)/);
      return true;
    });
  });

  it('gives up on a peer that never answers', async () => {
    const mute = path.join(dir, 'mute.sock');
    const held: net.Socket[] = [];
    const s = net.createServer((c) => held.push(c));
    await new Promise<void>((r) => s.listen(mute, r));
    try {
      await assert.rejects(controlCommand(mute, 'status', 200), /mute\.sock: no reply within 0 s/);
    } finally {
      for (const c of held) c.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
