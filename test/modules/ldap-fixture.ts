/**
 * A private OpenLDAP slapd for the ldap tests: its own slapd.conf (mdb, core/cosine/inetorgperson schemas),
 * data loaded with slapadd, listening on a free loopback port and a unix socket in a temp directory. The
 * tests may stop and start it (to play an outage): it is theirs alone. Missing slapd skips the tests with a
 * message, or fails them under SMAPD_REQUIRE_LDAP=1 (as CI sets).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../helpers/tcp-relay.js';

export { freePort };

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

/** Skip the test when slapd is missing (fail under SMAPD_REQUIRE_LDAP=1). True when it may run. */
export function needSlapd(t: TestContext): boolean {
  const why = slapdUnavailable();
  if (why === null) return true;
  if (process.env.SMAPD_REQUIRE_LDAP === '1') throw new Error(`${why}; SMAPD_REQUIRE_LDAP=1 requires it`);
  t.skip(why);
  return false;
}

function entries(): string {
  const people = [
    ['jdoe', 'John Doe', ['jdoe@example.org', 'john.doe@example.org']],
    ['asmith', 'Ann Smith', ['ann@example.org']],
    ['paren', 'Paren (Test)', ['x)(uid=*@example.org']],
    ['star', 'Star', ['*']],
    ['back', 'Back Slash', ['back\\slash@example.org']],
    ['uni', 'Ünï Cødé', ['uni@example.org']],
  ] as const;
  const blocks = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ${READER_DN}\nobjectClass: person\ncn: reader\nsn: reader\nuserPassword: ${READER_PW}\n`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people\n`,
  ];
  for (const [uid, cn, mails] of people) {
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const lines = [`dn: uid=${uid},ou=people,${SUFFIX}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn:: ${b64(cn)}`, `sn: ${uid}`];
    for (const m of mails) lines.push(`mail:: ${b64(m)}`);
    blocks.push(lines.join('\n') + '\n');
  }
  return blocks.join('\n');
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

  /** Write the config, load the data; then `start()`. */
  setup(): void {
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
        'maxsize 10485760',
        'index mail eq',
        // Only the reader may read: an anonymous lookup finds nothing, so a lost bind shows.
        'access to attrs=userPassword by anonymous auth by * none',
        `access to * by dn.exact="${READER_DN}" read by * none`,
        '',
      ].join('\n'),
    );
    writeFileSync(path.join(this.dir, 'data.ldif'), entries());
    const r = spawnSync(SLAPADD!, ['-f', conf, '-l', path.join(this.dir, 'data.ldif')], { encoding: 'utf8' });
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
