import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigErrors } from '../../src/errors.js';
import { loadConfig } from '../../src/config/parser.js';
import { fixture } from '../helpers/paths.js';
import { errorAt, FILE, parse } from './parse-helpers.js';

describe('loadConfig: GNU Smap sample (smapd.cfin)', () => {
  const config = loadConfig(fixture('config', 'gnu-sample.conf'));

  it('reads the globals', () => {
    assert.equal(config.file, fixture('config', 'gnu-sample.conf'));
    assert.equal(config.pidfile, '/var/run/smapd.pid');
    assert.equal(config.trace, true);
    assert.deepEqual(config.tracePatterns, ['OK']);
  });

  it('reads the three servers, with per-server users and the unix socket owned by that user', () => {
    assert.deepEqual(config.servers.map((s) => [s.id, s.url.text, s.user]), [
      ['local', 'unix:///var/run/smap/smap.sock', 'mail'],
      ['loopback', 'inet://127.0.0.1:3145', 'mail'],
      ['privileged', 'inet://127.0.0.1:3146', undefined],
    ]);
    assert.deepEqual(config.servers[0]!.socketOwner, { user: 'mail' });
    assert.equal(config.servers[1]!.socketOwner, undefined);
  });

  it('keeps module arguments, templates and sed expressions intact', () => {
    assert.deepEqual(config.modules.map((m) => [m.id, m.name]), [['echo', 'echo'], ['sed', 'sed'], ['mailutils', 'mailutils']]);
    const args = Object.fromEntries(config.databases.map((d) => [d.id, d.args]));
    assert.deepEqual(args.default, ['NOTFOUND', '[no', 'such', 'map]']);
    assert.deepEqual(args.dequote, ['extended', String.raw`s/<(.*)>/\1/g`]);
    assert.deepEqual(args.auth, ['mode=auth', 'positive-reply=OK ${uid} ${gid}']);
    assert.deepEqual(args.mbq, [
      'mode=mbq',
      'positive-reply=OK [${diag}] ${mailbox} ${mbsize} ${quota}',
      'negative-reply=NOTFOUND [${diag}] ${mailbox} ${mbsize} ${quota}',
      'onerror-reply=NOTFOUND [${diag}]',
    ]);
    assert.equal(config.databases.find((d) => d.id === 'mbq')!.loc.line, 17);
  });

  it('reads the five dispatch rules in order', () => {
    assert.equal(config.rules.length, 5);
    assert.deepEqual(config.rules[0]!.action, { kind: 'transform', target: 'key', db: 'dequote' });
    assert.deepEqual(config.rules[4], {
      conditions: [],
      action: { kind: 'database', db: 'default' },
      isDefault: true,
      loc: { file: config.file, line: 25 },
    });
  });
});

describe('loadConfig: a realistic smapd config', () => {
  const file = fixture('config', 'realistic.conf');
  const dir = path.dirname(file);
  const config = loadConfig(file);

  it('reads every global, resolving relative paths against the config directory', () => {
    assert.equal(config.pidfile, path.join(dir, 'run/smapd.pid'));
    assert.equal(config.controlSocket, path.join(dir, 'run/control.sock'));
    assert.deepEqual(config.loadPath, [path.join(dir, 'modules'), '/opt/smapd/modules', '/usr/local/lib/smapd']);
    assert.equal(config.foreground, true);
    assert.equal(config.idleTimeout, 120_000);
    assert.equal(config.shutdownTimeout, 2500);
    assert.equal(config.maxConnections, 500);
    assert.equal(config.backlog, 64);
    assert.equal(config.workers, 2);
    assert.equal(config.maxRequestSize, 10 * 1024);
    assert.equal(config.maxReplySize, 100_000);
    assert.deepEqual(config.metricsListen, { host: '::1', port: 9100 });
    assert.deepEqual(config.log, { level: 'debug', destination: 'stderr', file: undefined, tag: 'smapd-test', facility: 'mail', format: 'auto', debug: { module: 5, query: 100, smap: 2 } });
  });

  it('applies server blocks and inherits unset values from the globals', () => {
    const [postfix, sendmail, v6] = config.servers;
    assert.deepEqual(postfix!.socketOwner, { user: 'postfix', group: 'postfix' });
    assert.equal(postfix!.socketMode, 0o660);
    assert.equal(postfix!.maxConnections, 100);
    assert.equal(postfix!.idleTimeout, 15_000);
    assert.equal(postfix!.backlog, 64);
    assert.equal(sendmail!.reuseAddr, false);
    assert.equal(sendmail!.allGroups, true);
    assert.equal(sendmail!.idleTimeout, undefined);
    assert.deepEqual(v6!.url, { kind: 'inet6', host: '::1', port: 3146, text: 'inet6://[::1]:3146' });
    assert.equal(v6!.reuseAddr, true);
  });

  it('expands config variables but leaves module templates alone', () => {
    assert.deepEqual(config.modules[1]!.args, ['file=/etc/smapd/aliases.db']);
    const aliases = config.databases.find((d) => d.id === 'aliases')!;
    assert.deepEqual(aliases.args, ["query=SELECT target FROM aliases WHERE name = '$key'"]);
    assert.equal(aliases.timeout, 2000);
    assert.deepEqual(aliases.cache, { ttl: 300_000, negativeTtl: 30_000, size: 50_000, bytes: 32 * 1024 * 1024 });
    assert.deepEqual(config.databases.find((d) => d.id === 'notfound')!.args, ['NOTFOUND ']);
  });
});

describe('defaults', () => {
  it('gives documented defaults for an empty file, with no servers', () => {
    const c = parse('');
    assert.equal(c.file, FILE);
    assert.deepEqual(
      [c.inetdMode, c.foreground, c.idleTimeout, c.shutdownTimeout, c.maxConnections, c.backlog, c.reuseAddr, c.socketMode],
      [false, false, 600_000, 5_000, 1024, 128, true, 0o600],
    );
    assert.deepEqual([c.maxRequestSize, c.maxReplySize, c.workers], [100_000, 100_000, 1]);
    assert.deepEqual(c.log, { level: 'info', destination: 'stderr', file: undefined, tag: 'smapd', facility: 'daemon', format: 'auto', debug: {} });
    assert.deepEqual([c.servers, c.modules, c.databases, c.rules, c.loadPath, c.groups, c.tracePatterns], [[], [], [], [], [], [], []]);
    assert.deepEqual([c.pidfile, c.user, c.controlSocket, c.metricsListen], [undefined, undefined, undefined, undefined]);
  });

  it('lets a global setting after a server still reach it', () => {
    const c = parse('server s unix:///run/s.sock\nsocket-mode 0666\nbacklog 5\nreuseaddr no');
    assert.deepEqual([c.servers[0]!.socketMode, c.servers[0]!.backlog, c.servers[0]!.reuseAddr], [0o666, 5, false]);
  });
});

describe('global statements', () => {
  it('accepts every boolean spelling', () => {
    for (const yes of ['yes', 'on', 't', 'true', '1', 'YES']) assert.equal(parse(`trace ${yes}`).trace, true);
    for (const no of ['no', 'off', 'nil', 'false', '0']) assert.equal(parse(`trace yes\ntrace ${no}`).trace, false);
  });

  it('reads log-level, with syslog\'s "warning" for warn', () => {
    assert.equal(parse('log-level TRACE').log.level, 'trace');
    assert.equal(parse('log-level warning').log.level, 'warn');
  });

  it('matches a quoted keyword like an unquoted one, as GNU Smap does', () => {
    assert.equal(parse(`'pidfile' "/run/x.pid"`).pidfile, '/run/x.pid');
  });

  it('takes the last value of a repeated singleton', () => {
    assert.equal(parse('pidfile /a.pid\npidfile /b.pid').pidfile, '/b.pid');
  });

  it('reads idle-timeout as seconds or a duration, 0 meaning none', () => {
    assert.equal(parse('idle-timeout 30').idleTimeout, 30_000);
    assert.equal(parse('idle-timeout 10m').idleTimeout, 600_000);
    assert.equal(parse('idle-timeout 0').idleTimeout, 0);
  });

  it('chooses the log destination from log-to-stderr, log-to-syslog and log-file', () => {
    assert.equal(parse('log-to-syslog yes').log.destination, 'syslog');
    assert.equal(parse('log-to-stderr no').log.destination, 'syslog');
    assert.equal(parse('log-to-syslog yes\nlog-to-syslog no').log.destination, 'stderr');
    assert.equal(parse('log-to-syslog yes\nlog-to-stderr yes').log.destination, 'stderr');
    const f = parse('log-file logs/smapd.log').log;
    assert.deepEqual([f.destination, f.file], ['file', '/etc/smapd/logs/smapd.log']);
  });

  it('parses debug specs, several per word and several statements adding up', () => {
    assert.deepEqual(parse('debug 3').log.debug, { smap: 3 });
    assert.deepEqual(parse('debug module.5,query\ndebug conf.1 mysql').log.debug, { module: 5, query: 100, conf: 1, mysql: 100 });
  });

  it('accumulates trace-pattern and group', () => {
    const c = parse('trace-pattern OK\ntrace-pattern NOTFOUND TEMP\ngroup mail\ngroup mysql smap\nuser smap\nallgroups yes');
    assert.deepEqual(c.tracePatterns, ['OK', 'NOTFOUND', 'TEMP']);
    assert.deepEqual(c.groups, ['mail', 'mysql', 'smap']);
    assert.equal(c.user, 'smap');
    assert.equal(c.allGroups, true);
  });

  it('reads socket-mode in octal and ls form', () => {
    assert.equal(parse('socket-mode 600').socketMode, 0o600);
    assert.equal(parse('socket-mode 0660').socketMode, 0o660);
    assert.equal(parse('socket-mode rw-rw----').socketMode, 0o660);
    assert.equal(parse('socket-mode rwxr-x--x').socketMode, 0o751);
  });

  it('treats max-children and max-connections as one setting, 0 = unlimited', () => {
    assert.equal(parse('max-children 0').maxConnections, 0);
    assert.equal(parse('max-children 7\nmax-connections 9').maxConnections, 9);
  });

  it('accepts single-process and inetd-mode', () => {
    const c = parse('single-process yes\ninetd-mode yes');
    assert.equal(c.inetdMode, true);
  });

  it('accepts metrics-listen for IPv4 and names', () => {
    assert.deepEqual(parse('metrics-listen 127.0.0.1:0').metricsListen, { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parse('metrics-listen localhost:9100').metricsListen, { host: 'localhost', port: 9100 });
  });

  it('accepts max-reply-size up to Sendmail\'s limit and sizes with units', () => {
    assert.equal(parse('max-reply-size 1000000').maxReplySize, 1_000_000);
    assert.equal(parse('max-request-size 1M').maxRequestSize, 1024 * 1024);
  });
});

describe('the result is frozen', () => {
  it('throws on any change, however deep', () => {
    const c = parse('server s unix:///run/s.sock begin\nsocket-owner a:b\nend\nmodule m echo x\ndatabase d m begin\ncache\nend\ndispatch not map x database d');
    assert.throws(() => {
      (c as { backlog: number }).backlog = 1;
    }, TypeError);
    assert.throws(() => (c.servers as unknown[]).push({}), TypeError);
    assert.throws(() => {
      (c.servers[0]!.socketOwner as { user: string }).user = 'root';
    }, TypeError);
    assert.throws(() => {
      (c.log.debug as Record<string, number>).x = 1;
    }, TypeError);
    assert.throws(() => (c.modules[0]!.args as string[]).push('y'), TypeError);
    assert.throws(() => {
      (c.databases[0]!.cache as { ttl: number }).ttl = 0;
    }, TypeError);
    const not = c.rules[0]!.conditions[0]!;
    assert.equal(not.kind, 'not');
    assert.ok(Object.isFrozen(not.kind === 'not' ? not.cond : undefined));
  });
});

describe('overrides', () => {
  it('lets command-line values win and merges log settings and debug categories', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'smapd-config-'));
    try {
      const file = path.join(dir, 'smapd.conf');
      writeFileSync(file, 'log-tag fromfile\ndebug query.2\ntrace no\n');
      const c = loadConfig(file, { trace: true, foreground: true, log: { destination: 'syslog', debug: { module: 3 } } });
      assert.deepEqual([c.trace, c.foreground], [true, true]);
      assert.deepEqual(c.log, { level: 'info', destination: 'syslog', file: undefined, tag: 'fromfile', facility: 'daemon', format: 'auto', debug: { query: 2, module: 3 } });
      assert.ok(Object.isFrozen(c.log.debug));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('include', () => {
  it('reads an included file in place, relative to the including file', () => {
    const c = loadConfig(fixture('config', 'include-main.conf'));
    assert.equal(c.foreground, true);
    assert.deepEqual(c.servers.map((s) => s.id), ['a']);
    assert.equal(c.servers[0]!.loc.file, fixture('config', 'include-part.conf'));
    assert.deepEqual(c.databases.map((d) => [d.id, d.moduleId]), [['d', 'm']]);
  });

  it('names the included file in its errors, and lists them in reading order', () => {
    assert.throws(
      () => loadConfig(fixture('config', 'include-bad.conf')),
      (err: unknown) => {
        assert.ok(err instanceof ConfigErrors);
        assert.deepEqual(err.errors.map((e) => e.message), [
          `${fixture('config', 'include-bad-part.conf')}:1: unrecognized statement 'bogus-statement'`,
          `${fixture('config', 'include-bad.conf')}:3: 'backlog' expects a whole number, not 'zero'`,
        ]);
        return true;
      },
    );
  });

  it('refuses an include loop and a missing file', () => {
    assert.throws(() => loadConfig(fixture('config', 'include-loop.conf')), /include-loop.conf:1: include loop: .*include-loop.conf is already being read/);
    assert.match(errorAt('include /nonexistent/smapd-part.conf', 1), /^cannot read config file \/nonexistent\/smapd-part.conf: no such file$/);
  });
});

describe('loadConfig: unreadable file', () => {
  it('throws ConfigErrors naming the file', () => {
    assert.throws(
      () => loadConfig('/nonexistent/smapd.conf'),
      (err: unknown) => err instanceof ConfigErrors && err.errors.length === 1 && err.message === 'cannot read config file /nonexistent/smapd.conf: no such file',
    );
  });
});
