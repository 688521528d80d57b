import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { fixture, repoRoot } from '../helpers/paths.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [SMAPD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input ?? '');
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapd-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function conf(name: string, text: string): string {
  const f = path.join(dir, name);
  writeFileSync(f, `prepend-load-path ${fixture('modules')}\n${text}`);
  return f;
}

describe('smapd -t', () => {
  it('accepts the shipped etc/smapd.conf', async () => {
    const r = await run(['-t', '-c', path.join(repoRoot, 'etc', 'smapd.conf')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration OK/);
  });

  it('reports every error with file and line and exits 78', async () => {
    const f = conf(
      'bad.conf',
      [
        'server tcp inet://127.0.0.1:0', // line 2
        'module t testmod', // 3
        'module x no-such-module', // 4
        'database d t', // 5
        'frobnicate yes', // 6
        'dispatch map eq foo database nodb', // 7
        'dispatch default database d', // 8
      ].join('\n') + '\n',
    );
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:6: .*frobnicate`));
  });

  it('catches module and dispatch errors that only loading reveals', async () => {
    const f = conf(
      'bad2.conf',
      ['server tcp inet://127.0.0.1:0', 'module x no-such-module', 'module t testmod', 'database d t', 'dispatch map eq foo database nodb', ''].join('\n'),
    );
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:3: .*no-such-module.*not found`));
    assert.match(r.stderr, new RegExp(`${f}:6: .*no such database: nodb`));
  });

  it("names the alternative for GNU Smap's guile and mailutils modules", async () => {
    const f = conf('gnu-only.conf', ['server tcp inet://127.0.0.1:0', 'module g guile init-script=x.scm', 'module m mailutils', ''].join('\n'));
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:3: .*'guile' is a GNU Smap module that smapd does not have: write the module in JavaScript.*docs/migrating.md`));
    assert.match(r.stderr, new RegExp(`${f}:4: .*'mailutils' is a GNU Smap module.*ldap module.*docs/migrating.md`));
  });

  it('refuses a module that cannot share its database between worker processes', async () => {
    const f = conf('workers-level.conf', `workers 2\nserver tcp inet://127.0.0.1:0\nmodule level level\ndatabase maps level path=${dir}/maps.ldb allow-missing\ndispatch default database maps\n`);
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:5: database maps: module level cannot share its database between processes; use workers 1`));
    // GNU Smap's -s (single process) is accepted and means workers 1.
    const single = await run(['-t', '-s', '-c', f]);
    assert.equal(single.code, 0, single.stderr);
  });

  it('catches a map whose file is missing, misspelt module options, and names each database once', async () => {
    const f = conf(
      'missing-map.conf',
      [
        'server tcp inet://127.0.0.1:0', // 2
        'module file file', // 3
        `database gone file file=${dir}/no-such-map.txt`, // 4
        `database later file file=${dir}/made-later.txt allow-missing`, // 5
        `database typo file file=${dir}/no-such-map.txt domain-fallbak`, // 6
        'module mysql mysql', // 7
        'database m mysql querry=x', // 8
        'dispatch default database later', // 9
      ].join('\n') + '\n',
    );
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${f}:4: database gone: map file ${dir}/no-such-map.txt does not exist: every lookup would answer TEMP \\(add allow-missing`));
    assert.match(r.stderr, new RegExp(`smapd: warning: database later: map file ${dir}/made-later.txt does not exist \\(allow-missing\\)`));
    assert.match(r.stderr, new RegExp(`${f}:6: database typo: unknown option 'domain-fallbak' \\(did you mean 'domain-fallback'\\?\\)`));
    assert.match(r.stderr, new RegExp(`${f}:8: database m: unknown option 'querry' \\(did you mean 'query'\\?\\)`));
    assert.doesNotMatch(r.stderr, /database (\w+): database \1:/);
  });

  it("takes GNU's MeTA1 mysql lines: defaultdb with a hint, config-group with a hint when no option file exists", async () => {
    const f = conf(
      'meta1.conf',
      [
        'server tcp inet://127.0.0.1:0', // 2
        'module mysql mysql host=127.0.0.1 user=root database=test', // 3
        'database a mysql defaultdb "query=SELECT v FROM t WHERE k = $key"', // 4
        'database b mysql defaultdb host=db2 "query=SELECT v FROM t WHERE k = $key"', // 5
        'database c mysql config-group=smap config-file= "query=SELECT v FROM t WHERE k = $key"', // 6
        'database d mysql config-group=smap "query=SELECT v FROM t WHERE k = $key"', // 7
        'dispatch default database a', // 8
      ].join('\n') + '\n',
    );
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /smapd: warning: database a: defaultdb \(GNU Smap\) is not needed: a database without connection options uses the module statement's/);
    assert.doesNotMatch(r.stderr, new RegExp(`${f}:4:`));
    assert.match(r.stderr, new RegExp(`${f}:5: database b: defaultdb means the module's connection, but the database names its own \\(host\\)`));
    assert.match(r.stderr, new RegExp(`${f}:6: database c: config-group=smap needs an option file, and config-file= is empty: name the file with config-file=PATH`));
    // libmysqlclient's default file is read when it exists (then the group must be in it); else the hint.
    if (!existsSync('/etc/my.cnf')) {
      assert.match(r.stderr, new RegExp(`${f}:7: database d: config-group=smap needs an option file, and /etc/my.cnf \\(libmysqlclient's default, read when it exists\\) does not exist: .*Debian keeps it in /etc/mysql/my.cnf`));
    } else {
      assert.doesNotMatch(r.stderr, /needs an option file, and \/etc\/my.cnf/);
    }
  });

  it('warns about rules after a catch-all, which are never tried', async () => {
    const f = conf('unreachable.conf', 'module t testmod\ndatabase d t\ndispatch default database d\ndispatch map eq x database d\n');
    const r = await run(['-t', '-c', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`${f}:5: warning: this rule is never tried: the rule at ${f}:4 answers every request`));
  });

  it('exits 64 on bad usage, printing the usage line', async () => {
    const r = await run(['--no-such-option']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /^smapd: unknown option '--no-such-option'\nusage: smapd \[-f\] \[-t\] .*\n\(smapd --help shows every option\)\n$/);
  });
});

describe('smapd -i (inetd mode)', () => {
  it('serves requests on stdin/stdout and exits at EOF', async () => {
    const f = conf('inetd.conf', 'module t testmod\ndatabase d t\ndispatch default database d\n');
    const r = await run(['-i', '-c', f, '--log-level', 'error'], encodeNetstring('m a') + encodeNetstring('m sleep:20') + encodeNetstring('m b'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '6:OK m/a,11:OK slept 20,6:OK m/b,');
  });
});

describe('smapd -i with one socket on fd 0 and 1, as inetd passes it', () => {
  it('answers over that socket and sees the client address', async () => {
    const f = conf('inetd2.conf', 'module t testmod\ndatabase d t\ndispatch default database d\n');
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const sock = await accepted;
    const p = spawn(process.execPath, [SMAPD, '-i', '-c', f, '--log-level', 'error'], { stdio: [sock, sock, 'inherit'] });
    sock.destroy(); // the child has its own copy
    let got = '';
    client.on('data', (d) => (got += d));
    client.write(encodeNetstring('m conn') + encodeNetstring('m x'));
    for (let i = 0; i < 100 && !got.includes('OK m/x'); i++) await new Promise((r) => setTimeout(r, 20));
    client.end();
    const code = await new Promise<number | null>((r) => p.on('exit', r));
    server.close();
    assert.equal(got, `${'OK inetd inet 127.0.0.1'.length}:OK inetd inet 127.0.0.1,6:OK m/x,`);
    assert.equal(code, 0);
  });
});

describe('smapd daemon mode (no -f)', () => {
  it('detaches, returns 0 once the daemon listens, and the daemon serves until SIGTERM', async () => {
    const sock = path.join(dir, 'daemon.sock');
    const pidfile = path.join(dir, 'daemon.pid');
    const f = conf('daemon.conf', `pidfile ${pidfile}\nlog-file ${dir}/daemon.log\nserver u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`);
    const r = await run(['-c', f]);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    assert.ok(pid > 0);
    const c = await SmapClient.connect({ url: `unix://${sock}` });
    assert.equal(await c.query('m', 'k'), 'OK m/k');
    await c.close();
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(pidfile); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(existsSync(pidfile), false);
    assert.match(readFileSync(path.join(dir, 'daemon.log'), 'utf8'), /smapd stopped/);
  });

  it('exits non-zero with the reason when the daemon cannot start', async () => {
    const sock = path.join(dir, 'busy.sock');
    const holder = net.createServer().listen(sock);
    await new Promise((res) => holder.once('listening', res));
    try {
      const f = conf('busy.conf', `server u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`);
      const r = await run(['-c', f]);
      assert.equal(r.code, 69);
      assert.match(r.stderr, /in use by a running server/);
    } finally {
      holder.close();
    }
  });
});

describe('smapd user', () => {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  it('drops root privileges to the configured user after binding', { skip: root ? false : 'needs root to switch users' }, async () => {
    const sock = path.join(dir, 'priv.sock');
    const f = conf('priv.conf', `user nobody\nserver u unix://${sock} begin\n socket-mode 666\nend\nmodule t testmod\ndatabase d t\ndispatch default database d\n`);
    const p = spawn(process.execPath, [SMAPD, '-f', '-c', f], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 200 && !stderr.includes('smapd started'); i++) await new Promise((r) => setTimeout(r, 25));
    try {
      const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      const nobody = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))!.split(':')[2];
      assert.match(status, new RegExp(`^Uid:\\s+${nobody}\\s+${nobody}\\s+${nobody}\\s+${nobody}$`, 'm'));
      assert.doesNotMatch(status, /^Groups:.*\b0\b/m, 'no root group left');
      const c = await SmapClient.connect({ url: `unix://${sock}` });
      assert.equal(await c.query('m', 'k'), 'OK m/k');
      await c.close();
    } finally {
      p.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
  });
});

describe('smapd foreground run', () => {
  it('writes its pidfile, serves, and stops cleanly on SIGTERM removing socket and pidfile', async () => {
    const sock = path.join(dir, 'run.sock');
    const pidfile = path.join(dir, 'smapd.pid');
    const f = conf('run.conf', `pidfile ${pidfile}\nserver u unix://${sock}\nmodule t testmod\ndatabase d t\ndispatch default database d\n`);
    const p = spawn(process.execPath, [SMAPD, '-f', '-c', f], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 100 && !existsSync(pidfile); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(p.pid));
    const c = await SmapClient.connect({ url: `unix://${sock}` });
    assert.equal(await c.query('m', 'k'), 'OK m/k');
    await c.close();
    p.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.equal(existsSync(sock), false);
    assert.equal(existsSync(pidfile), false);
  });
});
