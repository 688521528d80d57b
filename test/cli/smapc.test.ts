import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exitStatusOf } from '../../src/cli/smapc.js';
import { deadUrl, startTestServer, type TestServer } from '../client/sockmap-server.js';
import { runSmapc, SMAPC_JS, spawnSmapc } from './smapc-run.js';

let srv: TestServer;
let home: string;

before(async () => {
  srv = await startTestServer();
  home = mkdtempSync(path.join(tmpdir(), 'smapc-home-'));
});
after(async () => {
  await srv.close();
  rmSync(home, { recursive: true, force: true });
});

const run = (args: string[], input?: string) => runSmapc(args, { input, home });

describe('smapc URL MAP KEY', () => {
  it('prints the reply as-is and exits by its status', async () => {
    const cases: Array<[string, string, number]> = [
      ['OK some value', 'OK some value', 0],
      ['NOTFOUND ', 'NOTFOUND ', 1],
      ['NOMORE stop here', 'NOMORE stop here', 1],
      ['TEMP database down', 'TEMP database down', 75],
      ['TIMEOUT backend slow', 'TIMEOUT backend slow', 75],
      ['PERM bad config', 'PERM bad config', 2],
      ['WHATEVER x', 'WHATEVER x', 76],
    ];
    for (const [key, reply, code] of cases) {
      const r = await run([srv.tcpUrl, 'status', key]);
      assert.equal(r.stdout, reply + '\n', key);
      assert.equal(r.code, code, key);
      assert.equal(r.stderr, '');
    }
  });

  it('queries over a unix socket and gets NOTFOUND for an unknown map', async () => {
    const r = await run([srv.unixUrl, 'nosuch', 'key']);
    assert.deepEqual(r, { code: 1, stdout: 'NOTFOUND \n', stderr: '' });
  });

  it('sends keys longer than 511 bytes intact', async () => {
    const key = 'k'.repeat(100000);
    const r = await run([srv.tcpUrl, 'echo', key]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `OK ${key}\n`);
    assert.equal(srv.requests.at(-1), `echo ${key}`);
  });

  it('exits 69 when the server cannot be reached', async () => {
    const url = await deadUrl();
    const r = await run([url, 'echo', 'x']);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /^smapc: cannot connect to inet:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    const u = await run(['unix:///nonexistent/dir/sock', 'echo', 'x']);
    assert.equal(u.code, 69);
  });

  it('exits 69 when the connection is lost before the reply', async () => {
    const r = await run([srv.tcpUrl, 'close', 'x']);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /closed the connection before replying/);
  });

  it('exits 75 when no reply comes within -t seconds', async () => {
    const r = await run(['-t', '0.2', srv.tcpUrl, 'never', 'x']);
    assert.equal(r.code, 75);
    assert.match(r.stderr, /no reply from .* within 200 ms/);
  });

  it('exits 76 on a reply that is not a netstring', async () => {
    const r = await run([srv.tcpUrl, 'garbage', 'x']);
    assert.equal(r.code, 76);
    assert.match(r.stderr, /malformed reply/);
  });

  it('traces the exchange on stderr with -T', async () => {
    const r = await run(['-T', srv.tcpUrl, 'echo', 'a']);
    assert.equal(r.stdout, 'OK a\n');
    assert.equal(r.stderr, 'C: 6:echo a,\nS: 4:OK a,\n');
  });
});

describe('smapc MAP KEY', () => {
  it('uses the server given with -S', async () => {
    const r = await run(['-S', srv.tcpUrl, 'echo', 'two args']);
    assert.deepEqual(r, { code: 0, stdout: 'OK two args\n', stderr: '' });
  });

  it('uses the open command of ~/.smapc, unless -q', async () => {
    const h = mkdtempSync(path.join(tmpdir(), 'smapc-rc-'));
    try {
      writeFileSync(path.join(h, '.smapc'), `# my server\nopen ${srv.unixUrl}\n`);
      const r = await runSmapc(['echo', 'k'], { home: h });
      assert.deepEqual(r, { code: 0, stdout: 'OK k\n', stderr: '' });
      const q = await runSmapc(['-q', 'echo', 'k'], { home: h });
      assert.equal(q.code, 64);
      assert.match(q.stderr, /server URL not given/);
    } finally {
      rmSync(h, { recursive: true, force: true });
    }
  });

  it('lets -S win over the rc file, and source-binds with -s', async () => {
    const h = mkdtempSync(path.join(tmpdir(), 'smapc-rc-'));
    try {
      writeFileSync(path.join(h, '.smapc'), `open ${await deadUrl()}\n`);
      const r = await runSmapc(['-s', '127.0.0.1', '-S', srv.tcpUrl, 'echo', 'k'], { home: h });
      assert.deepEqual(r, { code: 0, stdout: 'OK k\n', stderr: '' });
    } finally {
      rmSync(h, { recursive: true, force: true });
    }
  });
});

describe('smapc usage errors exit 64', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown option', ['--frobnicate'], /unknown option '--frobnicate'/],
    ['too many arguments', ['inet://127.0.0.1:1', 'a', 'b', 'c'], /too many arguments/],
    ['a bad timeout', ['-t', 'soon', 'inet://127.0.0.1:1', 'm', 'k'], /invalid timeout 'soon'/],
    ['a zero timeout', ['-t', '0', 'inet://127.0.0.1:1', 'm', 'k'], /invalid timeout '0'/],
    ['a bad URL', ['ftp://x:1', 'm', 'k'], /invalid server URL: .*unknown scheme/],
    ['a bad -S URL', ['-S', 'inet://nohost', 'm', 'k'], /invalid server URL/],
    ['a bad source address', ['-s', '300.1.1.1', 'inet://127.0.0.1:1', 'm', 'k'], /invalid IP address: 300\.1\.1\.1/],
    ['a server given twice', ['-S', 'inet://127.0.0.1:1', 'inet://127.0.0.1:2', 'm', 'k'], /server is given twice/],
    ['MAP KEY without a server', ['-q', 'm', 'k'], /server URL not given/],
    ['a map name with a space', ['inet://127.0.0.1:1', 'a b', 'k'], /invalid map name 'a b'/],
    ['an option without its value', ['-S'], /argument missing/],
  ];
  for (const [what, args, message] of cases) {
    it(`for ${what}`, async () => {
      const r = await run(args);
      assert.equal(r.code, 64, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }

  it('but -V and -h exit 0', async () => {
    const v = await run(['-V']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^smapc \(smapd\) \d+\.\d+\.\d+\n$/);
    const h = await run(['-h']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: smapc \[OPTION\]\.\.\. \[URL\] \[MAP \[KEY\]\]/);
    assert.match(h.stdout, /75 +TEMP, TIMEOUT/);
  });
});

describe('exitStatusOf', () => {
  it('maps each status word', () => {
    assert.equal(exitStatusOf('OK '), 0);
    assert.equal(exitStatusOf('NOTFOUND'), 1);
    assert.equal(exitStatusOf('ok lower case is not a status'), 76);
    assert.equal(exitStatusOf(''), 76);
  });
});

describe('smapc as a process', () => {
  it('is compiled next to the tests', () => {
    assert.ok(existsSync(SMAPC_JS), SMAPC_JS);
  });

  it('runs a single query and exits by its status', async () => {
    const ok = await spawnSmapc([srv.tcpUrl, 'echo', 'spawned'], { home });
    assert.deepEqual(ok, { code: 0, stdout: 'OK spawned\n', stderr: '' });
    const nf = await spawnSmapc([srv.tcpUrl, 'nosuch', 'x'], { home });
    assert.deepEqual(nf, { code: 1, stdout: 'NOTFOUND \n', stderr: '' });
  });

  it('reads a piped stdin in batch mode', async () => {
    const r = await spawnSmapc(['-S', srv.unixUrl], { home, input: 'echo a\nnosuch b\necho c\n' });
    assert.deepEqual(r, { code: 0, stdout: 'OK a\nNOTFOUND \nOK c\n', stderr: '' });
  });

  it('exits 69 when it cannot connect', async () => {
    const r = await spawnSmapc([await deadUrl(), 'echo', 'x'], { home });
    assert.equal(r.code, 69);
    assert.match(r.stderr, /cannot connect/);
  });
});
