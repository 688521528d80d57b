import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Output } from '../../src/cli/smapc/output.js';
import { Session } from '../../src/cli/smapc/session.js';
import { completeCommand, HISTORY_SIZE, loadHistory } from '../../src/cli/smapc/shell.js';
import { splitWords } from '../../src/cli/smapc/words.js';
import { deadUrl, startTestServer, type TestServer } from '../client/sockmap-server.js';
import { Collector, runShell, runSmapc } from './smapc-run.js';

let srv: TestServer;
let home: string;

before(async () => {
  srv = await startTestServer();
});
after(() => srv.close());
beforeEach(() => {
  home = mkdtempSync(path.join(tmpdir(), 'smapc-home-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const run = (args: string[], input: string) => runSmapc(args, { input, home });
const rc = (text: string) => writeFileSync(path.join(home, '.smapc'), text);

describe('smapc batch mode', () => {
  it('prints one reply per request line and skips blank and comment lines', async () => {
    const r = await run(['-S', srv.tcpUrl], 'echo a\nnosuch b\n\n   # a comment\n  echo   c d \r\necho last');
    assert.deepEqual(r, { code: 0, stdout: 'OK a\nNOTFOUND \nOK c d \nOK last\n', stderr: '' });
  });

  it('sends whole lines as keys when a default map is given', async () => {
    const r = await run(['-S', srv.tcpUrl, 'echo'], 'k1\nkey with spaces\n');
    assert.deepEqual(r, { code: 0, stdout: 'OK k1\nOK key with spaces\n', stderr: '' });
  });

  it('takes the server as a first argument, as GNU smapc does: smapc URL MAP, smapc URL', async () => {
    const withMap = await run([srv.tcpUrl, 'echo'], 'k1\nkey with spaces\n');
    assert.deepEqual(withMap, { code: 0, stdout: 'OK k1\nOK key with spaces\n', stderr: '' });
    const bare = await run([srv.tcpUrl], 'echo a\n');
    assert.deepEqual(bare, { code: 0, stdout: 'OK a\n', stderr: '' });
    const twice = await run(['-S', srv.tcpUrl, srv.tcpUrl, 'echo'], 'k\n');
    assert.equal(twice.code, 64);
    assert.match(twice.stderr, /the server is given twice/);
  });

  it('keeps input order with at most 64 requests in flight', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? 'slow 2' : `echo line${i}`));
    const before = srv.maxOutstanding;
    srv.maxOutstanding = 0;
    const r = await run(['-S', srv.tcpUrl], lines.join('\n') + '\n');
    const expected = lines.map((_, i) => (i % 3 === 0 ? 'OK slept 2' : `OK line${i}`));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n').slice(0, -1), expected);
    assert.ok(srv.maxOutstanding > 1, 'requests were not pipelined');
    assert.ok(srv.maxOutstanding <= 64, `${srv.maxOutstanding} requests were in flight`);
    srv.maxOutstanding = Math.max(before, srv.maxOutstanding);
  });

  it('handles a 100000-byte request line and a 200000-byte reply', async () => {
    const key = 'q'.repeat(100000);
    const r = await run(['-S', srv.tcpUrl], `echo ${key}\nbig 200000\n`);
    assert.equal(r.code, 0, r.stderr);
    const [first, second] = r.stdout.split('\n');
    assert.equal(first, `OK ${key}`);
    assert.equal(second!.length, 200000);
  });

  it('reports bad lines with their line number, answers the rest, and exits 65', async () => {
    const r = await run(['-S', srv.tcpUrl], 'echo a\njustoneword\n.bogus\necho b\n.map "unterminated\n');
    assert.equal(r.stdout, 'OK a\nOK b\n');
    assert.equal(
      r.stderr,
      [
        'smapc: stdin:2: invalid input: expected MAP KEY (or set a default map with .map)',
        "smapc: stdin:3: unknown command 'bogus'; type ? for help",
        'smapc: stdin:5: missing closing quote (")',
        '',
      ].join('\n'),
    );
    assert.equal(r.code, 65);
  });

  it('says "not connected" without a server', async () => {
    const r = await run(['-q'], 'echo a\n');
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'smapc: stdin:1: not connected, use .open first\n');
    assert.equal(r.code, 65);
  });

  it('runs commands in order with the requests around them', async () => {
    const input = [
      `.open ${srv.unixUrl}`,
      '.server',
      'echo one',
      '.map echo',
      '.map',
      'two',
      '.nomap',
      '.map',
      'echo three',
      '.prefix !',
      '!prefix',
      '.notacommand here',
      '!source 127.0.0.1',
      '!source',
      '!close',
      '!server',
      '!quit',
      'echo never sent',
    ].join('\n');
    const r = await run(['-q'], input);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(
      r.stdout,
      [
        `current server is ${srv.unixUrl}`,
        'OK one',
        'current map is echo',
        'OK two',
        'map not set',
        'OK three',
        'command prefix is !',
        'NOTFOUND ',
        'current source IP is 127.0.0.1',
        'server not set',
        '',
      ].join('\n'),
    );
  });

  it('exits 69 when the connection is lost, after printing the replies before it', async () => {
    const r = await run(['-S', srv.tcpUrl], 'echo a\nclose x\necho b\necho c\n');
    assert.equal(r.stdout, 'OK a\n');
    assert.match(r.stderr, /^smapc: stdin:2: inet:\/\/127\.0\.0\.1:\d+ closed the connection before replying\n$/);
    assert.equal(r.code, 69);
  });

  it('exits 75 when a reply times out', async () => {
    const r = await run(['-t', '0.2', '-S', srv.tcpUrl], 'echo a\nnever x\necho b\n');
    assert.equal(r.stdout, 'OK a\n');
    assert.match(r.stderr, /stdin:2: no reply from .* within 200 ms/);
    assert.equal(r.code, 75);
  });

  it('exits 69 at once when the -S server cannot be reached', async () => {
    const r = await run(['-S', await deadUrl()], 'echo a\n');
    assert.equal(r.code, 69);
    assert.match(r.stderr, /cannot connect/);
  });
});

describe('~/.smapc', () => {
  it('applies open, map and a prefix that stays in effect', async () => {
    rc(`# defaults\nopen ${srv.tcpUrl}\nmap echo   # the map\nprefix !\nprompt "my> "\n`);
    const r = await run([], 'k1\n!map\n.map\n!prompt\n');
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'OK k1\ncurrent map is echo\nOK .map\ncurrent prompt is my> \n');
    assert.equal(r.code, 0);
  });

  it('reports its errors with file and line but goes on', async () => {
    rc(`frob\nprefix ab\nopen ${srv.tcpUrl}\nquiet maybe\n`);
    const r = await run([], 'echo ok\n');
    const file = path.join(home, '.smapc');
    assert.equal(
      r.stderr,
      [
        `smapc: ${file}:1: unknown command 'frob'; type ? for help`,
        `smapc: ${file}:2: expected a single punctuation character other than '#', not 'ab'`,
        `smapc: ${file}:4: invalid boolean value 'maybe' (use yes/no, on/off, true/false)`,
        '',
      ].join('\n'),
    );
    assert.equal(r.stdout, 'OK ok\n');
  });

  it('does not connect to its server when the command line names another', async () => {
    rc(`open ${await deadUrl()}\n`);
    const r = await run([srv.tcpUrl, 'echo', 'x'], '');
    assert.deepEqual(r, { code: 0, stdout: 'OK x\n', stderr: '' });
  });
});

describe('the interactive shell', () => {
  it('shows the banner, answers, keeps and lists the history, and saves it', async () => {
    writeFileSync(path.join(home, '.smapc_history'), 'old line\n');
    const r = await runShell(['-S', srv.tcpUrl], ['.map echo', 'k1', '.history', '.quit'], home);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^smapc \(smapd\) \S+\nType \? for help summary\n/);
    assert.match(r.stdout, /\(smapc\) /);
    assert.match(r.stdout, /OK k1\n/);
    assert.match(r.stdout, / {3}1\) old line\n {3}2\) \.map echo\n {3}3\) k1\n {3}4\) \.history\n/);
    const saved = path.join(home, '.smapc_history');
    assert.equal(readFileSync(saved, 'utf8'), 'old line\n.map echo\nk1\n.history\n.quit\n');
  });

  it('prints help for ?, honours -Q and -p, and keeps going after errors', async () => {
    const r = await runShell(['-Q', '-p', 'ask> '], ['?', 'echo x', `.open ${await deadUrl()}`, '.quit'], home);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stdout, /Type \? for help/);
    assert.match(r.stdout, /ask> /);
    assert.match(r.stdout, /\.open URL +connect to a server\n/);
    assert.match(r.stdout, /\.prefix \[CHAR\] +set or show the command prefix\n/);
    assert.match(r.stderr, /^smapc: not connected, use \.open first\nsmapc: cannot connect to /);
    // A new history file is private: keys may be personal data.
    assert.equal(statSync(path.join(home, '.smapc_history')).mode & 0o777, 0o600);
  });

  it('reconnects with .open after the server closed the connection', async () => {
    const r = await runShell(['-Q', '-S', srv.tcpUrl], ['close x', 'echo a', `.open ${srv.tcpUrl}`, 'echo b', '.quit'], home);
    assert.match(r.stderr, /closed the connection before replying\nsmapc: not connected, use \.open first\n$/);
    assert.match(r.stdout, /OK b\n/);
    assert.doesNotMatch(r.stdout, /OK a/);
  });
});

describe('shell helpers', () => {
  it('completes command names after the prefix only', () => {
    const s = new Session(new Output(new Collector(), new Collector()), { timeoutMs: 1000, trace: false });
    assert.deepEqual(completeCommand(s, '.p'), [['.prefix ', '.prompt '], '.p']);
    assert.deepEqual(completeCommand(s, '.map x'), [[], '.map x']);
    assert.deepEqual(completeCommand(s, 'echo'), [[], 'echo']);
    s.prefix = '!';
    assert.deepEqual(completeCommand(s, '!q'), [['!quiet ', '!quit '], '!q']);
  });

  it('keeps at most the last HISTORY_SIZE history lines', () => {
    const file = path.join(home, 'hist');
    writeFileSync(file, Array.from({ length: HISTORY_SIZE + 10 }, (_, i) => `line ${i}`).join('\n') + '\n');
    const h = loadHistory(file);
    assert.equal(h.length, HISTORY_SIZE);
    assert.equal(h[0], `line ${HISTORY_SIZE + 9}`);
    assert.equal(h.at(-1), 'line 10');
  });

  it('splits command words like a shell', () => {
    assert.deepEqual(splitWords(`prompt "a> " x\\ y 'lit\\n' # comment`), ['prompt', 'a> ', 'x y', 'lit\\n']);
    assert.deepEqual(splitWords('  '), []);
    assert.deepEqual(splitWords('a"b c"d'), ['ab cd']);
    assert.throws(() => splitWords("'open"), /missing closing quote/);
  });
});
