import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ConfigErrors } from '../../src/errors.js';
import { loadConfig } from '../../src/config/parser.js';
import { fixture } from '../helpers/paths.js';
import { errorAt, errorsOf, FILE } from './parse-helpers.js';

describe('every error found is reported at once', () => {
  it('lists all errors of a bad file, each with its file:line, in line order', () => {
    const file = fixture('config', 'many-errors.conf');
    assert.throws(
      () => loadConfig(file),
      (err: unknown) => {
        assert.ok(err instanceof ConfigErrors);
        assert.equal(err.code, 'E_CONFIG_MANY');
        for (const e of err.errors) assert.ok(e instanceof ConfigError && e.loc?.file === file);
        assert.deepEqual(err.errors.map((e) => e.message.slice(file.length + 1)), [
          "1: 'pidfile' needs 1 argument: pidfile FILE",
          "2: unrecognized statement 'foregroud' (did you mean 'foreground'?)",
          "3: 'backlog' expects a whole number, not '-1'",
          "4: server 'a': 'inet://127.0.0.1:99999': port 99999 is out of range (0-65535)",
          "5: server 'b': 'unix://relative/path': the socket path must be absolute (unix:///path/to/socket)",
          "9: database 'd' uses undeclared module 'nomodule' (no module statement declares it)",
          "10: dispatch rule has no target: add 'database DB' or 'transform map|key DB'",
          "11: unknown syslog facility 'bogus'; use one of user, daemon, auth, authpriv, mail, cron, local0, local1, local2, local3, local4, local5, local6, local7",
        ]);
        assert.equal(err.message, err.errors.map((e) => e.message).join('\n'));
        return true;
      },
    );
  });
});

describe('statement errors', () => {
  const cases: [string, number, string][] = [
    ['foreground maybe', 1, "'foreground' expects yes or no (yes/on/t/true/1, no/off/nil/false/0), not 'maybe'"],
    ['foreground', 1, "'foreground' needs 1 argument: foreground yes|no"],
    ['\npidfile a b', 2, "too many arguments to 'pidfile' (unexpected 'b'): pidfile FILE"],
    ['idle-timeout soon', 1, "'idle-timeout' expects a duration (seconds, or a number with ms, s, m, h or d), not 'soon'"],
    ['idle-timeout 30d', 1, "'idle-timeout': 30d is too long (at most 24 days)"],
    ['backlog 0', 1, "'backlog' must be between 1 and 65535, not 0"],
    ['max-children lots', 1, "'max-children' expects a whole number, not 'lots'"],
    ['workers 0', 1, "'workers' must be between 1 and 1024, not 0"],
    ['socket-mode 1777', 1, 'socket mode 1777 has bits beyond 0777 (setuid/setgid/sticky mean nothing on a socket)'],
    ['socket-mode rw-rw-r', 1, "invalid socket mode 'rw-rw-r': use octal (0660) or the ls form (rw-rw----)"],
    ['socket-mode 0x1ff', 1, "invalid socket mode '0x1ff': use octal (0660) or the ls form (rw-rw----)"],
    ['log-level verbose', 1, "unknown log level 'verbose'; use one of fatal, error, warn, info, debug, trace"],
    ['log-level debg', 1, "unknown log level 'debg' (did you mean 'debug'?); use one of fatal, error, warn, info, debug, trace"],
    ['log-facility locl0', 1, "unknown syslog facility 'locl0' (did you mean 'local0'?); use one of user, daemon, auth, authpriv, mail, cron, local0, local1, local2, local3, local4, local5, local6, local7"],
    ['log-tag ""', 1, "'log-tag' needs a non-empty tag"],
    ['debug module.x', 1, "invalid debug spec 'module.x': use LEVEL, CATEGORY or CATEGORY.LEVEL (e.g. 2, query, module.5)"],
    ['debug ,', 1, "'debug' needs a spec such as 2, query or module.5"],
    ['max-reply-size 2000000', 1, 'max-reply-size 2000000 is above 1000000, the most any sockmap client reads (Sendmail 1000000, Postfix 100000); longer replies would break the client\'s connection'],
    ['max-reply-size 10', 1, "max-reply-size must be at least 64 bytes, to leave room for the PERM reply that replaces a long answer"],
    ['max-request-size big', 1, "'max-request-size' expects a size (bytes, or a number with K, M or G), not 'big'"],
    ['metrics-listen 9100', 1, "metrics-listen '9100': missing ':PORT'"],
    ['metrics-listen ::1:9100', 1, "metrics-listen '::1:9100': write an IPv6 address in brackets, as [::1]:PORT"],
    ['load-path /a::/b', 1, "empty directory in '/a::/b' (a stray ':'?)"],
    ['Pidfile /x', 1, "unrecognized statement 'Pidfile' (did you mean 'pidfile'?)"],
    ['frobnicate 1', 1, "unrecognized statement 'frobnicate'"],
    ['socket-owner a:b', 1, "'socket-owner' is allowed only inside a server block (server ID URL begin ... end)"],
    ['cache ttl=1', 1, "'cache' is allowed only inside a database block (database NAME MODULE begin ... end)"],
    ['begin', 1, "'begin' must end the line of its server or database statement"],
    ['end', 1, "'end' without a block to close"],
    ['module m', 1, "'module' needs at least 2 arguments: module ID NAME [ARGS...]"],
    ['module m echo\nmodule m sed', 2, "module 'm' is already declared at /etc/smapd/smapd.conf:1"],
    ['module m echo\ndatabase d m\ndatabase d m', 3, "database 'd' is already declared at /etc/smapd/smapd.conf:2"],
    ['module m echo\ndatabase d other', 2, "database 'd' uses undeclared module 'other' (declared modules: m)"],
    ['database d', 1, "'database' needs at least 2 arguments: database DBNAME MODULE-ID [ARGS...] [begin]"],
    ['include', 1, "'include' needs 1 argument: include FILE"],
  ];
  for (const [text, line, message] of cases) {
    it(`${JSON.stringify(text)} → ${message.slice(0, 50)}`, () => {
      assert.equal(errorAt(text, line), message);
    });
  }

  it('places an error about a value on the line of that value', () => {
    assert.equal(errorAt('server a \\\n  inet://127.0.0.1:70000', 2), "server 'a': 'inet://127.0.0.1:70000': port 70000 is out of range (0-65535)");
  });

  it('reports lexer and parser errors together, in line order', () => {
    assert.deepEqual(errorsOf('bogus 1\nlog-tag "open\nbacklog x'), [
      `${FILE}:1: unrecognized statement 'bogus'`,
      `${FILE}:2: missing closing " (the quote opens here)`,
      `${FILE}:3: 'backlog' expects a whole number, not 'x'`,
    ]);
  });
});
