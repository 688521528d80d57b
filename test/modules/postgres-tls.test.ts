/**
 * The postgres module's sslmode settings against a TLS front the test runs: it answers PostgreSQL's
 * SSLRequest with 'S', ends TLS with a certificate made for the test, and relays the plain protocol to the
 * real server (which has no TLS of its own). Certificates come from the openssl command line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import postgresModule, { type PostgresDb } from '../../modules/postgres/index.js';
import type { Reply } from '../../src/modules/api.js';
import { databaseContext, lookUp, openDatabase, openDatabaseFails } from '../helpers/module-context.js';
import { conn } from './mysql-fixture.js';
import { connectPg, needPg, PG_DATABASE, PG_PORT, PG_USER, type PgServer } from './postgres-fixture.js';

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** A PostgreSQL-speaking TLS terminator in front of the real server. */
class TlsFront {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  tlsSessions = 0;
  plainSessions = 0;
  /** Subject CN of each client certificate presented. */
  readonly clientCerts: string[] = [];

  constructor(private readonly creds: { key: Buffer; cert: Buffer; ca: Buffer }) {}

  async start(): Promise<void> {
    this.server = net.createServer((sock) => this.accept(sock));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
  }

  private accept(sock: net.Socket): void {
    this.track(sock);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      if (head.length < 8) return;
      sock.removeListener('data', onData);
      sock.pause();
      const upstream = net.connect(PG_PORT, '127.0.0.1');
      this.track(upstream);
      if (head.subarray(0, 8).equals(SSL_REQUEST)) {
        this.tlsSessions++;
        sock.write('S');
        const secure = new tls.TLSSocket(sock, { isServer: true, ...this.creds, requestCert: true, rejectUnauthorized: false });
        this.track(secure);
        secure.on('secure', () => {
          const peer = secure.getPeerCertificate();
          if (peer && peer.subject) this.clientCerts.push(String(peer.subject.CN));
        });
        secure.pipe(upstream).pipe(secure);
        upstream.on('close', () => secure.destroy());
        secure.on('close', () => upstream.destroy());
      } else {
        this.plainSessions++;
        upstream.write(head);
        sock.pipe(upstream).pipe(sock);
        sock.resume();
        upstream.on('close', () => sock.destroy());
        sock.on('close', () => upstream.destroy());
      }
    };
    sock.on('data', onData);
  }

  /** Cut every connection so far (the listener stays). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server !== null) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

let server: PgServer | undefined;
let dir: string;
let front: TlsFront | undefined;
const opened: PostgresDb[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for `pg.test` signed by it, a client certificate, and a second, unrelated CA. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=smapd test CA');
  openssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=some other CA');
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:pg.test\n');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=pg.test');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=smapd-client');
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2');
}

const file = (name: string) => path.join(dir, name);

function args(extra: string[], host = 'host=127.0.0.1'): string[] {
  return [host, `port=${front!.port}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, "query=SELECT 'tls ' || $key", ...extra];
}

async function open(a: string[]): Promise<PostgresDb> {
  return openDatabase(postgresModule, a, databaseContext('tls', [], 'pg', dir), opened);
}

function openFails(a: string[], why: RegExp): Promise<void> {
  return openDatabaseFails(postgresModule, a, databaseContext('tls', [], 'pg', dir), opened, why);
}

function ask(db: PostgresDb, key: string): Promise<Reply> {
  return lookUp(postgresModule, db, 'm', key, conn);
}

describe('postgres module over TLS', () => {
  before(async () => {
    server = await connectPg();
    if (server.admin === null) return;
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-pgtls-'));
    makeCertificates();
    front = new TlsFront({ key: readFileSync(file('server.key')), cert: readFileSync(file('server.crt')), ca: readFileSync(file('ca.crt')) });
    await front.start();
  });

  after(async () => {
    for (const db of opened) await postgresModule.closeDb!(db);
    await front?.stop();
    await server?.admin?.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sslmode=prefer (the default) and require encrypt without checking the certificate', async (t) => {
    if (!needPg(t, server)) return;
    const before = front!.tlsSessions;
    assert.equal(await ask(await open(args([]), ), 'a'), 'OK tls a');
    assert.equal(await ask(await open(args(['sslmode=require'])), 'b'), 'OK tls b');
    assert.ok(front!.tlsSessions >= before + 2, 'both went through TLS');
  });

  it('verify-full checks the CA and the host name, which hostaddr= keeps while connecting to an address', async (t) => {
    if (!needPg(t, server)) return;
    const verify = ['sslmode=verify-full', `sslrootcert=${file('ca.crt')}`];
    assert.equal(await ask(await open(args([...verify, 'hostaddr=127.0.0.1'], 'host=pg.test')), 'c'), 'OK tls c');
    await openFails(args(verify), /127\.0\.0\.1|altnames|IP/i);
    await openFails(args(['sslmode=verify-full', `sslrootcert=${file('other.crt')}`, 'hostaddr=127.0.0.1'], 'host=pg.test'), /certificate/i);
  });

  it('verify-ca checks the CA only', async (t) => {
    if (!needPg(t, server)) return;
    assert.equal(await ask(await open(args(['sslmode=verify-ca', `sslrootcert=${file('ca.crt')}`])), 'd'), 'OK tls d');
    await openFails(args(['sslmode=verify-ca', `sslrootcert=${file('other.crt')}`]), /certificate/i);
  });

  it('presents the client certificate of sslcert= and sslkey=', async (t) => {
    if (!needPg(t, server)) return;
    const db = await open(args(['sslmode=require', `sslcert=${file('client.crt')}`, `sslkey=${file('client.key')}`]));
    assert.equal(await ask(db, 'e'), 'OK tls e');
    assert.ok(front!.clientCerts.includes('smapd-client'), `the front saw the client certificate (${front!.clientCerts.join(', ')})`);
  });

  it('a client key that became unreadable after the start fails the new connection with TEMP, and the module goes on', async (t) => {
    if (!needPg(t, server)) return;
    copyFileSync(file('client.crt'), file('later.crt'));
    copyFileSync(file('client.key'), file('later.key'));
    const db = await open(args(['sslmode=require', `sslcert=${file('later.crt')}`, `sslkey=${file('later.key')}`]));
    assert.equal(await ask(db, 'g'), 'OK tls g');
    rmSync(file('later.key'));
    // The next lookup needs a new connection, which reads the files again.
    front!.cut();
    const reply = await ask(db, 'h');
    assert.match(reply, /^TEMP /);
    copyFileSync(file('client.key'), file('later.key'));
    assert.equal(await ask(db, 'i'), 'OK tls i', 'the key back, the module connects again');
  });

  it('sslmode=prefer goes on in plain text with a server that has no TLS; require does not', async (t) => {
    if (!needPg(t, server)) return;
    const plain = [`host=127.0.0.1`, `port=${PG_PORT}`, `user=${PG_USER}`, `dbname=${PG_DATABASE}`, "query=SELECT 'plain ' || $key"];
    assert.equal(await ask(await open(plain), 'f'), 'OK plain f');
    await openFails([...plain, 'sslmode=require'], /does not support SSL/);
  });
});
