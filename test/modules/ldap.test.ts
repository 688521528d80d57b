/** The ldap module against a private slapd: lookups, escaping, bind, failover, outage and recovery, options. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import ldapModule, { type LdapDb } from '../../modules/ldap/index.js';
import { escapeFilterValue } from '../../modules/ldap/filter.js';
import type { ConnInfo, Reply } from '../../src/modules/api.js';
import { ModuleArgumentError } from '../../src/errors.js';
import { databaseContext } from '../helpers/module-context.js';
import { startDaemon } from '../helpers/daemon.js';
import { freePort, needSlapd, READER_DN, READER_PW, Slapd, slapdUnavailable, SUFFIX } from './ldap-fixture.js';

const conn: ConnInfo = { serverId: 'main', family: 'inet', src: '192.0.2.7', srcPort: 40000, dst: '127.0.0.1', dstPort: 3145 };

let slapd: Slapd | undefined;
let dir: string;
const opened: LdapDb[] = [];

function base(extra: string[] = []): string[] {
  return [`uri=${slapd!.url}`, `base=ou=people,${SUFFIX}`, `binddn=${READER_DN}`, `bindpw=${READER_PW}`, 'config-file=', 'timeout=3s', ...extra];
}

async function open(args: string[], moduleArgs: string[] = []): Promise<LdapDb> {
  const db = (await ldapModule.initDb(args, databaseContext('users', moduleArgs, 'ldap', dir))) as LdapDb;
  await ldapModule.openDb!(db);
  opened.push(db);
  return db;
}

async function ask(db: LdapDb, key: string, map = 'users'): Promise<string> {
  return String((await ldapModule.query!(db, map, key, conn)) as Reply);
}

describe('ldap module', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-ldap-'));
    if (slapdUnavailable() !== null) return;
    slapd = new Slapd();
    slapd.setup();
    await slapd.start();
  });
  after(async () => {
    for (const db of opened) await ldapModule.closeDb!(db);
    await slapd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds an entry and answers with its attributes', async (t) => {
    if (!needSlapd(t)) return;
    const db = await open(base(['filter=(mail=$key)', 'positive-reply=OK ${uid} ${cn}']));
    assert.equal(await ask(db, 'ann@example.org'), 'OK asmith Ann Smith');
    assert.equal(await ask(db, 'nobody@example.org'), 'NOTFOUND ');
  });

  it('answers with the dn by default, and with 8-bit UTF-8 values both ways', async (t) => {
    if (!needSlapd(t)) return;
    const db = await open(base(['filter=(&(objectClass=inetOrgPerson)(mail=$key))']));
    assert.equal(await ask(db, 'jdoe@example.org'), `OK uid=jdoe,ou=people,${SUFFIX}`);
    const cn = await open(base(['filter=(cn=$key)', 'positive-reply=OK ${uid} ${cn}']));
    assert.equal(await ask(cn, 'Ünï Cødé'), 'OK uni Ünï Cødé');
  });

  it('takes the first value of a multi-valued attribute, or all of them with join-delim', async (t) => {
    if (!needSlapd(t)) return;
    const first = await open(base(['filter=(uid=$key)', 'positive-reply=OK ${mail}']));
    assert.equal(await ask(first, 'jdoe'), 'OK jdoe@example.org');
    const joined = await open(base(['filter=(uid=$key)', 'positive-reply=OK ${mail}', 'join-delim=,']));
    assert.equal(await ask(joined, 'jdoe'), 'OK jdoe@example.org,john.doe@example.org');
  });

  it('escapes keys in the filter (RFC 4515): wildcards and filter syntax match only themselves', async (t) => {
    if (!needSlapd(t)) return;
    const db = await open(base(['filter=(mail=$key)', 'positive-reply=OK ${uid}']));
    // Unescaped, `*` would match every entry and `x)(uid=*` would rewrite the filter.
    assert.equal(await ask(db, '*'), 'OK star');
    assert.equal(await ask(db, 'x)(uid=*@example.org'), 'OK paren');
    assert.equal(await ask(db, 'back\\slash@example.org'), 'OK back');
    for (const key of ['j*', '*@example.org', 'jdoe)(uid=*', 'jdoe@example.org)(|(uid=*)', 'a\0b', '\\2a', '(', ')', '\\', "o'brien%_", '']) {
      assert.equal(await ask(db, key), 'NOTFOUND ', `key ${JSON.stringify(key)}`);
    }
    assert.equal(escapeFilterValue('a*b(c)d\\e\0f'), 'a\\2ab\\28c\\29d\\5ce\\00f');
  });

  it('finds nothing for a key that is not UTF-8, without asking the directory', async (t) => {
    if (!needSlapd(t)) return;
    const db = await open(base(['filter=(mail=$key)']));
    assert.equal(await ask(db, 'caf\uDCE9'), 'NOTFOUND ');
  });

  it('binds with binddn: without the bind the directory hides the base, which is TEMP, not NOTFOUND', async (t) => {
    if (!needSlapd(t)) return;
    // A base the directory does not show (a typo, or an ACL) must not bounce mail as "no such user".
    const anon = await open([`uri=${slapd!.url}`, `base=ou=people,${SUFFIX}`, 'config-file=', 'filter=(uid=$key)']);
    assert.equal(await ask(anon, 'jdoe'), 'TEMP directory lookup failed');
    const pwFile = path.join(dir, 'bindpw');
    writeFileSync(pwFile, READER_PW + '\n', { mode: 0o600 });
    const bound = await open([`uri=${slapd!.url}`, `base=ou=people,${SUFFIX}`, `binddn=${READER_DN}`, `bindpwfile=${pwFile}`, 'config-file=', 'filter=(uid=$key)', 'positive-reply=OK ${uid}']);
    assert.equal(await ask(bound, 'jdoe'), 'OK jdoe');
    const wrong = await open([...base(['filter=(uid=$key)']), 'bindpw=wrong']);
    assert.equal(await ask(wrong, 'jdoe'), 'TEMP directory unavailable');
  });

  it('reads uri, base and bind settings from config-file=, below the statement options', async (t) => {
    if (!needSlapd(t)) return;
    const file = path.join(dir, 'ldap.conf');
    writeFileSync(file, `# comment\nURI ${slapd!.url}\nBase ou=people,${SUFFIX}\nBINDDN ${READER_DN}\nbindpw ${READER_PW}\nSIZELIMIT 12\nTLS_REQCERT never\n`);
    const db = await open([`config-file=${file}`, 'filter=(uid=$key)', 'positive-reply=OK ${cn}']);
    assert.equal(await ask(db, 'asmith'), 'OK Ann Smith');
    // The statement's base wins over the file's.
    const other = await open([`config-file=${file}`, `base=${SUFFIX}`, 'scope=base', 'filter=(uid=$key)']);
    assert.equal(await ask(other, 'asmith'), 'NOTFOUND ');
  });

  it('connects over ldapi:// (a unix socket)', async (t) => {
    if (!needSlapd(t)) return;
    const db = await open([`uri=${slapd!.ldapiUrl}`, `base=ou=people,${SUFFIX}`, `binddn=${READER_DN}`, `bindpw=${READER_PW}`, 'config-file=', 'filter=(uid=$key)', 'positive-reply=OK ${uid}']);
    assert.equal(await ask(db, 'asmith'), 'OK asmith');
  });

  it('fails over to the next uri when the first does not answer', async (t) => {
    if (!needSlapd(t)) return;
    const dead = await freePort();
    const db = await open([...base(['filter=(uid=$key)', 'positive-reply=OK ${uid}']), `uri=ldap://127.0.0.1:${dead} ${slapd!.url}`]);
    assert.equal(await ask(db, 'asmith'), 'OK asmith');
  });

  it('answers TEMP while the directory is down, with no address in the reply, and recovers (bound) when it is back', async (t) => {
    if (!needSlapd(t)) return;
    const db = await open(base(['filter=(uid=$key)', 'positive-reply=OK ${uid}', 'connect-timeout=2s']));
    assert.equal(await ask(db, 'jdoe'), 'OK jdoe');
    await slapd!.stop();
    try {
      const down = await ask(db, 'jdoe');
      assert.equal(down, 'TEMP directory unavailable');
      assert.doesNotMatch(down, /127\.0\.0\.1|ldap:/);
    } finally {
      await slapd!.start();
    }
    // Back: the connection is rebuilt and bound again (an anonymous one would answer NOTFOUND).
    assert.equal(await ask(db, 'jdoe'), 'OK jdoe');
  });

  it('answers TIMEOUT when the server accepts but never answers, within the timeout', async (t) => {
    if (!needSlapd(t)) return;
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const db = await open([...base(['filter=(uid=$key)']), `uri=ldap://127.0.0.1:${port}`, 'timeout=300ms']);
      const started = Date.now();
      assert.equal(await ask(db, 'jdoe'), 'TIMEOUT directory lookup timed out');
      assert.ok(Date.now() - started < 5000, 'bounded by the timeout, not by the connect timeout');
      // An explicit onerror-reply covers timeouts too (fail open, as in the SQL modules).
      const open_ = await open([...base(['filter=(uid=$key)', 'onerror-reply=OK fail-open']), `uri=ldap://127.0.0.1:${port}`, 'timeout=300ms']);
      assert.equal(await ask(open_, 'jdoe'), 'OK fail-open');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses bad options at config check', async (t) => {
    if (!needSlapd(t)) return;
    const bad: [string[], RegExp][] = [
      [base(), /filter= is required/],
      [base(['filter=(uid=$key']), /not a valid LDAP filter/],
      [base(['filter=(uid=$nosuch)']), /unknown variable/],
      [base(['filter=(uid=$key)', 'uri=http://x']), /not an LDAP URI/],
      [base(['filter=(uid=$key)', 'ldap_version=2']), /only LDAPv3/],
      [base(['filter=(uid=$key)', 'bindpwfile=/nonexistent/pw']), /cannot read bindpwfile/],
      [base(['filter=(uid=$key)', 'tls_cacert=/nonexistent/ca.pem']), /cannot read tls-cacert/],
      [base(['filter=(uid=$key)', 'config-file=/nonexistent/ldap.conf']), /cannot read LDAP config file/],
      [base(['filter=(uid=$key)', 'negative-reply=NOTFOUND ${mail}']), /unknown variable/],
      [base(['filter=(uid=$key)', 'scope=tree']), /must be one of/],
    ];
    for (const [args, re] of bad) {
      await assert.rejects(async () => ldapModule.initDb(args, databaseContext('users', [], 'ldap', dir)), (err: Error) => {
        assert.ok(err instanceof ModuleArgumentError, String(err));
        assert.match(err.message, re);
        return true;
      });
    }
  });

  it('serves lookups through a running smapd', async (t) => {
    if (!needSlapd(t)) return;
    const d = await startDaemon(
      [
        'server main inet://127.0.0.1:0',
        `module ldap ldap uri=${slapd!.url} base=ou=people,${SUFFIX} binddn=${READER_DN} "bindpw=${READER_PW}" config-file=`,
        'database users ldap filter=(mail=$key) "positive-reply=OK ${uid}"',
        'dispatch map users database users',
        '',
      ].join('\n'),
    );
    try {
      const c = await d.client();
      assert.equal(await c.query('users', 'ann@example.org'), 'OK asmith');
      assert.equal(await c.query('users', '*'), 'OK star');
      assert.equal(await c.query('users', 'jdoe)(uid=*'), 'NOTFOUND ');
    } finally {
      await d.stop();
    }
  });
});
