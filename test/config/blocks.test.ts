import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSocketOwner } from '../../src/config/server-block.js';
import { CACHE_DEFAULTS } from '../../src/config/database-block.js';
import { errorAt, errorsOf, FILE, parse } from './parse-helpers.js';

const UNIX = 'server s unix:///run/smapd.sock';

describe('server blocks', () => {
  it('applies every block statement', () => {
    const c = parse(`${UNIX} begin
      backlog 10
      reuseaddr no
      max-children 3
      single-process yes
      user daemon
      group mail mysql
      group extra
      allgroups yes
      socket-owner daemon.mail
      socket-mode rw-rw----
      idle-timeout 90s
    end`);
    const s = c.servers[0]!;
    assert.deepEqual(
      [s.backlog, s.reuseAddr, s.maxConnections, s.user, s.groups, s.allGroups, s.socketOwner, s.socketMode, s.idleTimeout],
      [10, false, 3, 'daemon', ['mail', 'mysql', 'extra'], true, { user: 'daemon', group: 'mail' }, 0o660, 90_000],
    );
    assert.deepEqual(s.loc, { file: FILE, line: 1 });
  });

  it('reads reuseaddr yes as reuse (GNU Smap inverts it)', () => {
    assert.equal(parse(`reuseaddr no\n${UNIX} begin\nreuseaddr yes\nend`).servers[0]!.reuseAddr, true);
  });

  it('accepts max-connections as an alias and an empty block', () => {
    assert.equal(parse(`${UNIX} begin\nmax-connections 4\nend`).servers[0]!.maxConnections, 4);
    assert.equal(parse(`${UNIX} begin\nend`).servers[0]!.maxConnections, 0);
  });

  it('keeps the per-server user out of the socket owner when socket-owner is given', () => {
    const s = parse(`${UNIX} begin\nuser mail\nsocket-owner :postfix\nend`).servers[0]!;
    assert.deepEqual(s.socketOwner, { group: 'postfix' });
  });

  it('rejects socket settings on an inet server', () => {
    assert.equal(
      errorAt('server t inet://127.0.0.1:1 begin\nsocket-mode 0600\nend', 2),
      "'socket-mode' applies only to unix-socket servers, and 't' listens on inet://127.0.0.1:1",
    );
  });

  it('reports each bad block statement, with a suggestion for typos', () => {
    assert.deepEqual(errorsOf(`${UNIX} begin\n  backlog many\n  allgroup yes\n  pidfile /x\n  socket-owner :\nend`), [
      `${FILE}:2: 'backlog' expects a whole number, not 'many'`,
      `${FILE}:3: 'allgroup' is not allowed in a server block (did you mean 'allgroups'?); allowed: backlog, reuseaddr, max-children, max-connections, single-process, user, group, allgroups, socket-owner, socket-mode, idle-timeout, request-timeout, ipv6-only`,
      `${FILE}:4: 'pidfile' is not allowed in a server block; allowed: backlog, reuseaddr, max-children, max-connections, single-process, user, group, allgroups, socket-owner, socket-mode, idle-timeout, request-timeout, ipv6-only`,
      `${FILE}:5: socket-owner ':' names neither a user nor a group`,
    ]);
  });

  it('does not take a keyword for a method of a plain object', () => {
    assert.deepEqual(errorsOf(`${UNIX} begin\n  constructor x\nend\ndatabase d m begin\n  toString\nend\nmodule m echo`), [
      `${FILE}:2: 'constructor' is not allowed in a server block; allowed: backlog, reuseaddr, max-children, max-connections, single-process, user, group, allgroups, socket-owner, socket-mode, idle-timeout, request-timeout, ipv6-only`,
      `${FILE}:5: 'toString' is not allowed in a database block; allowed: timeout, cache`,
    ]);
  });

  it('reports a missing end once, and goes on with the statement that ended the block', () => {
    assert.deepEqual(errorsOf(`${UNIX} begin\n  backlog 5\nmodule m echo\nbogus`), [
      `${FILE}:1: the server block that begins here has no 'end' before line 3`,
      `${FILE}:4: unrecognized statement 'bogus'`,
    ]);
    assert.deepEqual(errorsOf(`${UNIX} begin\n  backlog 5\n`), [`${FILE}:1: the server block that begins here has no 'end' before the end of the file`]);
  });

  it('rejects a duplicate id, a stray word instead of begin, and end with arguments', () => {
    assert.equal(errorAt(`${UNIX}\nserver s unix:///run/other.sock`, 2), "server 's' is already declared at /etc/smapd/smapd.conf:1");
    assert.equal(errorAt(`${UNIX} now`, 1), "too many arguments to 'server' (unexpected 'now'): server ID URL [begin]");
    assert.equal(errorAt(`${UNIX} begin\nend now`, 2), "'end' takes no arguments");
    assert.equal(errorAt('server s begin\nend', 1), "'server' needs 2 arguments: server ID URL [begin]");
  });

  it('refuses two servers on one address, which would fail at start with EADDRINUSE', () => {
    assert.equal(
      errorAt(`${UNIX}\nserver t unix:///run/smapd.sock`, 2),
      "server 't': unix:///run/smapd.sock is already used by server 's' (unix:///run/smapd.sock) at /etc/smapd/smapd.conf:1",
    );
    const clash = (a: string, b: string): boolean => {
      try {
        parse(`server a ${a}\nserver b ${b}`);
        return false;
      } catch {
        return errorsOf(`server a ${a}\nserver b ${b}`).some((e) => e.includes('is already used by'));
      }
    };
    assert.ok(clash('inet://127.0.0.1:3145', 'inet://127.0.0.1:3145'));
    assert.ok(clash('inet://0.0.0.0:3145', 'inet://127.0.0.1:3145'), 'the IPv4 wildcard covers loopback');
    assert.ok(clash('inet6://[::1]:3145', 'inet6://[::]:3145'));
    assert.ok(clash('inet6://[::]:3145', 'inet://127.0.0.1:3145'), ':: is dual-stack');
    assert.ok(!clash('inet://127.0.0.1:3145', 'inet://127.0.0.2:3145'));
    assert.ok(!clash('inet://127.0.0.1:3145', 'inet://127.0.0.1:3146'));
    assert.ok(!clash('inet://127.0.0.1:0', 'inet://127.0.0.1:0'), 'port 0 picks a free port each time');
    assert.ok(!clash('inet6://[::1]:3145', 'inet://127.0.0.1:3145'));
    assert.ok(!clash('unix:///run/a.sock', 'unix:///run/b.sock'));
  });

  it("treats a quoted 'begin' as an ordinary word", () => {
    assert.equal(errorAt(`${UNIX} 'begin'`, 1), "too many arguments to 'server' (unexpected 'begin'): server ID URL [begin]");
  });
});

describe('parseSocketOwner', () => {
  it('accepts user:group, user.group, user, user: and :group', () => {
    assert.deepEqual(parseSocketOwner('a:b'), { user: 'a', group: 'b' });
    assert.deepEqual(parseSocketOwner('a.b'), { user: 'a', group: 'b' });
    assert.deepEqual(parseSocketOwner('a'), { user: 'a' });
    assert.deepEqual(parseSocketOwner('a:'), { user: 'a' });
    assert.deepEqual(parseSocketOwner(':b'), { group: 'b' });
    assert.deepEqual(parseSocketOwner('1000:1000'), { user: '1000', group: '1000' });
    assert.deepEqual(parseSocketOwner('john.doe:mail'), { user: 'john.doe', group: 'mail' });
  });

  it('rejects an empty owner and a second separator', () => {
    assert.throws(() => parseSocketOwner(''), /names neither a user nor a group/);
    assert.throws(() => parseSocketOwner('a:b:c'), /expected USER:GROUP/);
  });
});

describe('database blocks', () => {
  const M = 'module m echo\n';

  it('has no timeout and no cache without a block', () => {
    const d = parse(`${M}database d m OK x`).databases[0]!;
    assert.deepEqual([d.id, d.moduleId, d.args, d.timeout, d.cache], ['d', 'm', ['OK', 'x'], 0, undefined]);
  });

  it('reads timeout and cache, and fills cache defaults', () => {
    const d = parse(`${M}database d m OK begin\n  timeout 1500ms\n  cache\nend`).databases[0]!;
    assert.deepEqual(d.args, ['OK']);
    assert.equal(d.timeout, 1500);
    assert.deepEqual(d.cache, CACHE_DEFAULTS);
    assert.deepEqual(CACHE_DEFAULTS, { ttl: 60_000, negativeTtl: 0, size: 10_000, bytes: 16 * 1024 * 1024 });
  });

  it('reads every cache option', () => {
    const d = parse(`${M}database d m begin\ncache ttl=0 negative-ttl=10 size=5 bytes=1K\nend`).databases[0]!;
    assert.deepEqual(d.args, []);
    assert.deepEqual(d.cache, { ttl: 0, negativeTtl: 10_000, size: 5, bytes: 1024 });
  });

  it("passes a quoted 'begin' to the module as an argument", () => {
    assert.deepEqual(parse(`${M}database d m OK 'begin'`).databases[0]!.args, ['OK', 'begin']);
  });

  it('rejects bad cache options and block statements', () => {
    assert.deepEqual(errorsOf(`${M}database d m begin
  cache tll=5
  cache ttl
  cache size=0
  cache bytes=12
  cache ttl=0 negative-ttl=0
  cache ttl=forever
  timeout
  backlog 5
end`), [
      `${FILE}:3: unknown cache option 'tll' (did you mean 'ttl'?); use ttl=, negative-ttl=, size=, bytes=`,
      `${FILE}:4: cache option 'ttl' needs a value (ttl=...)`,
      `${FILE}:5: cache size must be a whole number of entries from 1 to 100000000, not '0'`,
      `${FILE}:6: cache bytes must be between 1024 and 68719476736 bytes, not 12`,
      `${FILE}:7: cache with ttl=0 and negative-ttl=0 would cache nothing; remove the cache statement instead`,
      `${FILE}:8: cache ttl expects a duration (seconds, or a number with ms, s, m, h or d), not 'forever'`,
      `${FILE}:9: 'timeout' needs 1 argument: timeout DURATION`,
      `${FILE}:10: 'backlog' is not allowed in a database block; allowed: timeout, cache`,
    ]);
  });

  it('accepts a module declared after the database', () => {
    assert.equal(parse('database d m OK\nmodule m echo').databases[0]!.moduleId, 'm');
  });
});
