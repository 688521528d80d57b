/**
 * The mysql module's TLS and connect-timeout, end to end through `smapd -f -c FILE`. The shared MariaDB has no
 * TLS, so the test starts a private mariadbd on a free port with a certificate from a CA it makes itself
 * (openssl): `ssl-ca=` of that CA answers over TLS (the session's cipher comes back through a lookup), a CA
 * that did not sign the server's certificate answers TEMP, and a server that accepts the connection but never
 * greets answers TEMP once `connect-timeout` has passed, not at the 5 s default and not never.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { spawnSmapd, stopAll } from '../helpers/spawned.js';
import { freePort } from '../helpers/tcp-relay.js';

const MARIADBD = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((p) => existsSync(p));
const INSTALL_DB = ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'].find((p) => existsSync(p));
const CLIENT = ['/usr/bin/mariadb', '/usr/bin/mysql'].find((p) => existsSync(p));

function unavailable(): string | null {
  if (MARIADBD === undefined || INSTALL_DB === undefined || CLIENT === undefined) return 'mariadbd, mariadb-install-db or the mariadb client is missing';
  if (spawnSync('openssl', ['version']).status !== 0) return 'openssl is missing';
  return null;
}

function need(t: TestContext): boolean {
  const why = unavailable();
  if (why === null) return true;
  if (process.env.SMAPD_REQUIRE_DB === '1') throw new Error(`${why}; SMAPD_REQUIRE_DB=1 requires it`);
  t.skip(why);
  return false;
}

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** A CA and a server certificate for 127.0.0.1 signed by it, and a second CA that signed nothing. */
function makeCertificates(dir: string): void {
  const subj = (cn: string) => ['-subj', `/CN=${cn}`];
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', ...subj('smapd test CA')], dir);
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other-ca.pem', '-days', '2', ...subj('another CA')], dir);
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', ...subj('127.0.0.1')], dir);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run('openssl', ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf'], dir);
}

async function pingable(port: number): Promise<boolean> {
  return spawnSync(CLIENT!, ['--no-defaults', '-uroot', '-h127.0.0.1', `-P${port}`, '--connect-timeout=1', '-e', 'SELECT 1'], { encoding: 'utf8' }).status === 0;
}

describe('mysql over TLS and connect-timeout, through smapd -f -c FILE', () => {
  let dir = '';
  let port = 0;
  let server: ChildProcess | undefined;
  const silent = net.createServer(() => undefined);
  let silentPort = 0;

  before(async () => {
    if (unavailable() !== null) return;
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-mysql-tls-'));
    makeCertificates(dir);
    run(INSTALL_DB!, ['--no-defaults', `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root'], dir);
    port = await freePort();
    server = spawn(
      MARIADBD!,
      [
        '--no-defaults',
        `--datadir=${dir}/data`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${dir}/mysqld.sock`,
        `--pid-file=${dir}/mysqld.pid`,
        '--user=root',
        '--skip-log-bin',
        `--ssl-ca=${dir}/ca.pem`,
        `--ssl-cert=${dir}/server.pem`,
        `--ssl-key=${dir}/server.key`,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 30_000;
    while (!(await pingable(port))) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error('the private mariadbd did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    run(CLIENT!, ['--no-defaults', '-uroot', '-h127.0.0.1', `-P${port}`, '-e', "CREATE DATABASE t; CREATE TABLE t.a (k VARCHAR(50) PRIMARY KEY, v VARCHAR(50)); INSERT INTO t.a VALUES ('alice', 'alice@tls.example')"], dir);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
  });

  after(async () => {
    await stopAll();
    silent.close();
    if (server !== undefined && server.exitCode === null) {
      const gone = new Promise((r) => server!.once('exit', r));
      server.kill('SIGKILL');
      await gone;
    }
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const config = (db: string) => ['server tcp inet://127.0.0.1:0', 'module mysql mysql', db, 'dispatch default database my', ''].join('\n');

  it('answers over TLS with ssl-ca= of the CA that signed the server, and TEMP with another CA', async (t) => {
    if (!need(t)) return;
    const base = `host=127.0.0.1 port=${port} user=root password= database=t config-file=`;
    const cipher = "query=SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher' AND $key = $key";
    const d = spawnSmapd(
      [
        'server tcp inet://127.0.0.1:0',
        'module mysql mysql',
        `database my mysql ${base} ssl-ca=${dir}/ca.pem "query=SELECT v FROM a WHERE k = $key"`,
        `database cipher mysql ${base} ssl-ca=${dir}/ca.pem "${cipher}"`,
        `database wrong mysql ${base} ssl-ca=${dir}/other-ca.pem "query=SELECT v FROM a WHERE k = $key"`,
        'dispatch map eq cipher database cipher',
        'dispatch map eq wrong database wrong',
        'dispatch default database my',
        '',
      ].join('\n'),
    );
    const c = await SmapClient.connect({ url: await d.address('tcp'), timeoutMs: 20_000 });
    try {
      assert.equal(await c.query('aliases', 'alice'), 'OK alice@tls.example');
      assert.match(await c.query('cipher', 'x'), /^OK [A-Z0-9_-]+$/, 'the session has a TLS cipher');
      assert.equal(await c.query('wrong', 'alice'), 'TEMP database unavailable', 'a CA that did not sign the server is refused');
      await d.waitForLog(/cannot open database|database unavailable|open failed|cannot connect/i, 10_000);
    } finally {
      await c.close();
    }
    assert.equal(await d.stop(), 0, d.stderr());
  });

  it('gives up on a server that never greets after connect-timeout, and answers TEMP', async (t) => {
    if (!need(t)) return;
    const d = spawnSmapd(config(`database my mysql host=127.0.0.1 port=${silentPort} user=root config-file= connect-timeout=700ms "query=SELECT v FROM a WHERE k = $key"`));
    const c = await SmapClient.connect({ url: await d.address('tcp'), timeoutMs: 20_000 });
    try {
      const started = Date.now();
      assert.equal(await c.query('aliases', 'alice'), 'TEMP database unavailable');
      const took = Date.now() - started;
      // Not before the connect timeout, and well before the 5 s default it replaces.
      assert.ok(took >= 650 && took < 4500, `answered after ${took} ms`);
    } finally {
      await c.close();
    }
    assert.equal(await d.stop(), 0, d.stderr());
  });
});
