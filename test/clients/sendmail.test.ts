/**
 * Sendmail 8.17's own socket map client (`K… socket …` in sendmail.cf, queried with `/map` in address test
 * mode, `sendmail -bt`) against a real smapd: found, not found and TEMP answers, key case folding, keys with
 * spaces, unix sockets, `-T<TMPF>` in a rule set, and a restart of smapd under a running Sendmail.
 *
 * Sendmail insists on a fully qualified name for its host at start and sleeps a minute when it has none, so
 * each run gets a private mount and UTS namespace (`unshare`) with its own host name and /etc/hosts. That
 * takes root. The binary is found at SMAPD_SENDMAIL or where Debian's sendmail-bin puts it; .ci/run unpacks
 * that package without installing it (it would replace Postfix), and sets SMAPD_REQUIRE_SENDMAIL=1.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

const HOST = 'smtest.example.com';

function findSendmail(): string | undefined {
  const candidates = [process.env.SMAPD_SENDMAIL, '/usr/libexec/sendmail/sendmail', '/usr/lib/sm.bin/sendmail'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

/** Why the sandbox cannot be made here, or undefined when it can. */
function sandboxProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for unshare (a private host name and /etc/hosts)';
  const r = spawnSync('unshare', ['-m', '-u', 'true'], { stdio: 'ignore' });
  return r.status === 0 ? undefined : 'unshare -m -u does not work here';
}

const sendmail = findSendmail();
const problem = sendmail === undefined ? 'sendmail not found (set SMAPD_SENDMAIL, or see .ci/run)' : sandboxProblem();
const required = process.env.SMAPD_REQUIRE_SENDMAIL === '1';
const skip = problem !== undefined && !required ? `${problem}; skipping` : false;

const DAEMON_CONFIG = (sock: string) => `
server tcp inet://127.0.0.1:0
server local unix://${sock}
module t testmod
database test t
dispatch map eq m database test
dispatch map eq cased database test
`;

/** A running `sendmail -bt`: send `/map` lines, read its answers one by one. */
class AddressTestMode {
  private out = '';
  private readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;

  constructor(cf: string, hosts: string) {
    const script = 'mount --bind "$1" /etc/hosts && hostname "$2" && exec "$3" -C "$4" -bt';
    this.child = spawn('unshare', ['-m', '-u', 'sh', '-c', script, 'sh', hosts, HOST, sendmail!, cf]);
    this.child.stdout.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.child.stderr.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** What Sendmail said between the key and its verdict in the last lookup (an error message, or ''). */
  said = '';

  /**
   * Look `key` up in `map` and return the key with Sendmail's verdict, e.g. `KEY returns VALUE (0)` or
   * `KEY no match (68)`; the number is Sendmail's exit status for the lookup (0, EX_NOTFOUND, EX_TEMPFAIL).
   */
  async lookup(map: string, key: string): Promise<string> {
    const verdict = new RegExp(`map_lookup: ${map} \\((.*?)\\) ([\\s\\S]*?)(returns .* \\(\\d+\\)|no match \\(\\d+\\))\\n`);
    const m = await this.send(`/map ${map} ${key}`, verdict);
    this.said = m[2]!.trim();
    return `${m[1]} ${m[3]}`;
  }

  /** Send one line of test input and wait for output that matches `until`, written after it. */
  async send(line: string, until: RegExp): Promise<RegExpExecArray> {
    const seen = this.out.length;
    this.child.stdin.write(line + '\n');
    for (let i = 0; i < 400; i++) {
      const m = until.exec(this.out.slice(seen));
      if (m) return m;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no answer from sendmail to '${line}'; it said:\n${this.out}`);
  }

  async close(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }
}

// Skipped test by test, not as a suite: node:test counts skipped tests in its summary, not skipped suites.
const it = (name: string, fn: (t: TestContext) => void | Promise<void>) => nodeIt(name, { skip }, fn);

describe('Sendmail as a client', () => {
  let dir: string;
  let sock: string;
  let d: TestDaemon | undefined;
  let hosts: string;

  /** A sendmail.cf with just the socket maps: `lower` folds keys (the default), `cased` keeps them (`-f`). */
  function cf(name: string, spec: string): string {
    const file = path.join(dir, `${name}.cf`);
    writeFileSync(file, `V10/Berkeley\nDj${HOST}\nKm socket ${spec}\nKcased socket -f ${spec}\n`);
    return file;
  }

  before(async () => {
    if (skip) return;
    assert.equal(problem, undefined, `Sendmail is required (SMAPD_REQUIRE_SENDMAIL=1) but ${problem}`);
    // Sendmail refuses a unix socket below a world-writable directory (such as /tmp): "unsafe".
    dir = mkdtempSync(path.join(existsSync('/run') ? '/run' : homedir(), 'smapd-sendmail-'));
    sock = path.join(dir, 'sm.sock');
    hosts = path.join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 ${HOST} localhost\n::1 ${HOST} localhost\n`);
    d = await startDaemon(DAEMON_CONFIG(sock));
  });

  after(async () => {
    await d?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gets found values over TCP, lowercasing keys unless the map has -f, and keeps spaces in keys', async () => {
    const port = d!.port('tcp');
    const sm = new AddressTestMode(cf('tcp', `inet:${port}@127.0.0.1`), hosts);
    try {
      assert.equal(await sm.lookup('m', 'Alice'), 'Alice returns m/alice (0)');
      assert.equal(await sm.lookup('cased', 'MiXed'), 'MiXed returns cased/MiXed (0)');
      assert.equal(await sm.lookup('m', 'a b c'), 'a b c returns m/a b c (0)');
      assert.equal(await sm.lookup('m', 'conn'), 'conn returns tcp inet 127.0.0.1 (0)');
    } finally {
      await sm.close();
    }
  });

  it('reads NOTFOUND as no match (68) and TEMP as a temporary failure (75), over the unix socket', async () => {
    const sm = new AddressTestMode(cf('unix', `local:${sock}`), hosts);
    try {
      assert.equal(await sm.lookup('m', 'missing'), 'missing no match (68)');
      assert.equal(await sm.lookup('m', 'throw'), 'throw no match (75)');
      assert.equal(await sm.lookup('m', 'bob'), 'bob returns m/bob (0)', 'the connection goes on after TEMP');
      assert.equal(await sm.lookup('m', 'conn'), 'conn returns local unix  (0)');
    } finally {
      await sm.close();
    }
  });

  it('with -T<TMPF>, turns a TEMP answer into <TMPF> in rule sets, as the access_db feature expects', async () => {
    const port = d!.port('tcp');
    const file = path.join(dir, 'tmpf.cf');
    // A rule set that looks its input up in the map, as Sendmail's access rules do: $(map key $: default $).
    writeFileSync(file, `V10/Berkeley\nDj${HOST}\nKm socket -T<TMPF> inet:${port}@127.0.0.1\nSLookup\nR$*\t\t$: $(m $1 $: NONE $)\n`);
    const sm = new AddressTestMode(file, hosts);
    const returns = /Lookup\s+returns: (.*)\n/;
    try {
      assert.equal((await sm.send('Lookup alice', returns))[1], 'm/alice');
      assert.equal((await sm.send('Lookup missing', returns))[1], 'NONE');
      assert.equal((await sm.send('Lookup throw', returns))[1], 'throw < TMPF >');
    } finally {
      await sm.close();
    }
  });

  it('loses one lookup (75) when smapd restarts under it, then reconnects by itself', async () => {
    const sm = new AddressTestMode(cf('restart', `local:${sock}`), hosts);
    try {
      assert.equal(await sm.lookup('m', 'before'), 'before returns m/before (0)');
      await d!.stop();
      d = await startDaemon(DAEMON_CONFIG(sock));
      assert.equal(await sm.lookup('m', 'first'), 'first no match (75)');
      assert.match(sm.said, /failed to send lookup request: Broken pipe/);
      assert.equal(await sm.lookup('m', 'after'), 'after returns m/after (0)');
    } finally {
      await sm.close();
    }
  });
});
