/**
 * The postgres module's password authentication against a private PostgreSQL the test starts (the shared
 * server trusts every loopback connection): md5, SCRAM-SHA-256 and cleartext, each for a role of its own in
 * pg_hba.conf, a wrong password refused with the server's reason, the password file, and a server that
 * offers only SCRAM with channel binding, played by a fake. Skipped when no initdb is installed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import postgresModule, { type PostgresDb } from '../../modules/postgres/index.js';
import { freePort } from '../helpers/tcp-relay.js';
import { databaseContext, lookUp, openDatabase, openDatabaseFails } from '../helpers/module-context.js';
import { conn } from './mysql-fixture.js';
import { waitFor } from './postgres-fixture.js';

const PASSWORDS = { smapd_md5: 'md5 secret', smapd_scram: 'scram: sécret,=x', smapd_clear: 'clear secret' };
const HBA = `local all all trust
host all smapd_md5 127.0.0.1/32 md5
host all smapd_scram 127.0.0.1/32 scram-sha-256
host all smapd_clear 127.0.0.1/32 password
host all all 127.0.0.1/32 trust
`;

/** initdb of the newest PostgreSQL installed, or undefined. */
function findInitdb(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => path.join(root, v, 'bin', 'initdb')).find((f) => existsSync(f));
}

/** A throwaway cluster in a temp dir, run as `postgres` when the tests run as root (the server refuses root). */
class PrivateServer {
  port = 0;
  private proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'smapd-pgauth-'));

  constructor(private readonly bin: string) {}

  /** As root, the server and initdb run as the postgres user (spawn's uid/gid), so the signals reach the server itself. */
  private ids: { uid?: number; gid?: number } = {};

  async start(): Promise<string | null> {
    if (process.getuid?.() === 0) {
      const id = (flag: string): number => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim() || NaN);
      const uid = id('-u');
      const gid = id('-g');
      if (Number.isNaN(uid) || Number.isNaN(gid)) return 'running as root and there is no postgres user to run the server as';
      chownSync(this.dir, uid, gid);
      this.ids = { uid, gid };
    }
    const data = path.join(this.dir, 'data');
    const initArgs = ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'];
    const init = spawnSync(path.join(this.bin, 'initdb'), initArgs, { encoding: 'utf8', cwd: this.dir, ...this.ids });
    if (init.status !== 0) return `initdb failed: ${init.stderr || init.error?.message}`;
    writeFileSync(path.join(data, 'pg_hba.conf'), HBA);
    this.port = await freePort();
    const serverArgs = ['-D', data, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
    this.proc = spawn(path.join(this.bin, 'postgres'), serverArgs, { stdio: 'ignore', cwd: this.dir, ...this.ids });
    const up = await waitFor(async () => {
      const c = this.client();
      try {
        await c.connect();
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => undefined);
      }
    }, 20_000);
    return up ? null : 'the private server did not start';
  }

  client(user = 'postgres', password?: string): pg.Client {
    const c = new pg.Client({ host: '127.0.0.1', port: this.port, user, password, database: 'postgres' });
    c.on('error', () => undefined);
    return c;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc !== null && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      // SIGINT is PostgreSQL's fast shutdown.
      proc.kill('SIGINT');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let server: PrivateServer | undefined;
let unavailable: string | null = 'not started';
const opened: PostgresDb[] = [];

function args(user: string, extra: string[] = []): string[] {
  return ['host=127.0.0.1', `port=${server!.port}`, `user=${user}`, 'dbname=postgres', 'sslmode=disable', "query=SELECT current_user || ' ' || $key", ...extra];
}

function openFails(a: string[], why: RegExp): Promise<void> {
  return openDatabaseFails(postgresModule, a, databaseContext('auth', [], 'pg'), opened, why);
}

async function answers(a: string[], user: string): Promise<void> {
  const db = await openDatabase(postgresModule, a, databaseContext('auth', [], 'pg'), opened);
  assert.deepEqual(await Promise.all(['a', 'b'].map((k) => lookUp(postgresModule, db, 'm', k, conn))), [`OK ${user} a`, `OK ${user} b`]);
}

describe('postgres module authentication', () => {
  before(async () => {
    const initdb = findInitdb();
    if (initdb === undefined) return;
    server = new PrivateServer(path.dirname(initdb));
    unavailable = await server.start();
    if (unavailable !== null) return;
    const admin = server.client();
    await admin.connect();
    // Each role's password stored the way its pg_hba.conf line needs it.
    await admin.query("SET password_encryption = 'md5'");
    await admin.query(`CREATE ROLE smapd_md5 LOGIN PASSWORD '${PASSWORDS.smapd_md5}'`);
    await admin.query("SET password_encryption = 'scram-sha-256'");
    await admin.query(`CREATE ROLE smapd_scram LOGIN PASSWORD '${PASSWORDS.smapd_scram}'`);
    await admin.query(`CREATE ROLE smapd_clear LOGIN PASSWORD '${PASSWORDS.smapd_clear}'`);
    await admin.end();
  });

  after(async () => {
    for (const db of opened) await postgresModule.closeDb!(db);
    await server?.stop();
  });

  const need = (t: { skip(why: string): void }): boolean => {
    if (unavailable === null) return true;
    t.skip(server === undefined ? 'no initdb under /usr/lib/postgresql' : unavailable);
    return false;
  };

  for (const [user, method] of [
    ['smapd_md5', 'md5'],
    ['smapd_scram', 'SCRAM-SHA-256'],
    ['smapd_clear', 'a cleartext password'],
  ] as const) {
    it(`logs in with ${method}, and a wrong password fails the open with the server's reason`, async (t) => {
      if (!need(t)) return;
      await answers(args(user, [`password=${PASSWORDS[user]}`]), user);
      await openFails(args(user, ['password=wrong']), /password authentication failed/);
    });
  }

  it('reads the password from the password file (PGPASSFILE) when none is given, and says so when there is none', async (t) => {
    if (!need(t)) return;
    const file = path.join(server!.dir, 'pgpass');
    writeFileSync(file, `# comment\n127.0.0.1:${server!.port}:postgres:smapd_md5:${PASSWORDS.smapd_md5}\n*:*:*:smapd_scram:${PASSWORDS.smapd_scram.replace(/:/g, '\\:')}\n`);
    chmodSync(file, 0o600);
    const saved = process.env.PGPASSFILE;
    process.env.PGPASSFILE = file;
    try {
      await answers(args('smapd_md5'), 'smapd_md5');
      await answers(args('smapd_scram'), 'smapd_scram');
      await openFails(args('smapd_clear'), /asks for a password/);
    } finally {
      if (saved === undefined) delete process.env.PGPASSFILE;
      else process.env.PGPASSFILE = saved;
    }
  });

  it('refuses a server that offers only SCRAM with channel binding, with a clear reason', async () => {
    // Answers any startup with AuthenticationSASL listing SCRAM-SHA-256-PLUS alone.
    const body = Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from('SCRAM-SHA-256-PLUS\0\0')]);
    const head = Buffer.from([0x52, 0, 0, 0, 0]);
    head.writeInt32BE(4 + body.length, 1);
    const fake = net.createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.write(Buffer.concat([head, body])));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (fake.address() as net.AddressInfo).port;
      const a = ['host=127.0.0.1', `port=${port}`, `user=${userInfo().username}`, 'password=x', 'sslmode=disable', 'query=SELECT $key'];
      await openFails(a, /SCRAM-SHA-256-PLUS.*without channel binding/);
    } finally {
      await new Promise<void>((resolve) => fake.close(() => resolve()));
    }
  });
});
