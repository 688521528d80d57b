/**
 * A private OpenLDAP slapd on a free loopback port and a unix socket in a temp directory: its own slapd.conf
 * (mdb backend, core/cosine/inetorgperson schemas), data loaded with slapadd. Used by the ldap tests
 * (test/modules/ldap-fixture.ts, which may stop and start it to play an outage) and by the bench's ldap row;
 * the server is theirs alone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const SUFFIX = 'dc=example,dc=org';
export const READER_DN = `cn=reader,${SUFFIX}`;
export const READER_PW = 'r3ad#pw';

const SLAPD = ['/usr/sbin/slapd', '/usr/local/libexec/slapd'].find((p) => existsSync(p));
const SLAPADD = ['/usr/sbin/slapadd', '/usr/local/sbin/slapadd'].find((p) => existsSync(p));
const SCHEMA_DIR = ['/etc/ldap/schema', '/etc/openldap/schema'].find((p) => existsSync(path.join(p, 'core.schema')));
const MODULE_DIR = ['/usr/lib/ldap', '/usr/lib64/openldap', '/usr/lib/openldap'].find((p) => existsSync(p));

/** Why slapd cannot run here, or null. */
export function slapdUnavailable(): string | null {
  if (SLAPD === undefined || SLAPADD === undefined) return 'slapd/slapadd not installed (Debian: apt-get install slapd ldap-utils)';
  if (SCHEMA_DIR === undefined) return 'OpenLDAP schema files not found';
  return null;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class Slapd {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'smapd-slapd-'));
  readonly socketPath = path.join(this.dir, 'ldapi');
  port = 0;
  private proc: ChildProcess | null = null;

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }

  get ldapiUrl(): string {
    return `ldapi://${encodeURIComponent(this.socketPath)}`;
  }

  /** Write the config, load `ldif` (the suffix entry, the reader and the data); then `start()`. */
  setup(ldif: string): void {
    const conf = path.join(this.dir, 'slapd.conf');
    mkdirSync(path.join(this.dir, 'data'));
    writeFileSync(
      conf,
      [
        `include ${SCHEMA_DIR}/core.schema`,
        `include ${SCHEMA_DIR}/cosine.schema`,
        `include ${SCHEMA_DIR}/inetorgperson.schema`,
        `pidfile ${this.dir}/slapd.pid`,
        ...(MODULE_DIR !== undefined ? [`modulepath ${MODULE_DIR}`, 'moduleload back_mdb'] : []),
        'database mdb',
        `suffix "${SUFFIX}"`,
        `rootdn "cn=admin,${SUFFIX}"`,
        'rootpw admin-secret',
        `directory ${this.dir}/data`,
        'maxsize 1073741824',
        // back-mdb ORs every filter with (objectClass=referral): without this index each search scans the
        // whole directory, which a bench of a 20,000-entry directory shows at once.
        'index objectClass eq',
        'index mail eq',
        // Only the reader may read: an anonymous lookup finds nothing, so a lost bind shows.
        'access to attrs=userPassword by anonymous auth by * none',
        `access to * by dn.exact="${READER_DN}" read by * none`,
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(this.dir, 'data.ldif'), ldif);
    // -q: no consistency checks while loading, which makes a big load many times faster.
    const r = spawnSync(SLAPADD!, ['-q', '-f', conf, '-l', path.join(this.dir, 'data.ldif')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`slapadd failed: ${r.stderr || r.stdout}`);
  }

  /** Start (again, on the same port after the first time) and wait until it accepts connections. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const proc = spawn(SLAPD!, ['-f', path.join(this.dir, 'slapd.conf'), '-h', `${this.url}/ ${this.ldapiUrl}`, '-d', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    this.proc = proc;
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`slapd exited (${code}): ${stderr}`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + 15000;
    while (!(await canConnect(this.port))) {
      if (Date.now() > deadline) throw new Error(`slapd did not listen on ${this.port}: ${stderr}`);
      await Promise.race([new Promise((r) => setTimeout(r, 25)), exited]);
    }
  }

  /** Stop it and wait for the process to be gone. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await gone;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
