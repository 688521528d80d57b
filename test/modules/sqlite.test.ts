/** The sqlite module against real SQLite files. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sqlite, { type SqliteDb } from '../../modules/sqlite/index.js';
import type { ConnInfo, Reply } from '../../src/modules/api.js';
import { BackendError, ModuleArgumentError } from '../../src/errors.js';
import { databaseContext } from '../helpers/module-context.js';
import { capture } from '../helpers/capture-log.js';

// The sqlite module's log: the detail of a failure is here, never in the reply a client sees.
const logged = capture('error');

/** The `err` of the last line the module logged. */
function lastLoggedError(): string {
  return String(logged.lines().at(-1)?.err ?? '');
}

const conn: ConnInfo = { serverId: 'main', family: 'inet', src: '192.0.2.7', srcPort: 40000, dst: '127.0.0.1', dstPort: 3145 };

const TRICKY_KEYS = [
  "o'brien",
  "' OR 1=1 --",
  "x'; DROP TABLE map; --",
  'back\\slash',
  '"double"',
  'ünïcødé ✉ 🎉',
  ':key',
  '$key',
  '%',
];

let dir: string;

function makeMapFile(name: string, rows: [string, string | null][]): string {
  const file = path.join(dir, name);
  rmSync(file, { force: true });
  const w = new Database(file);
  w.exec('CREATE TABLE map (key TEXT PRIMARY KEY, value TEXT)');
  const ins = w.prepare('INSERT INTO map (key, value) VALUES (?, ?)');
  for (const [k, v] of rows) ins.run(k, v);
  w.close();
  return file;
}

function initDb(args: string[], moduleArgs: string[] = []): SqliteDb {
  return sqlite.initDb(args, { ...databaseContext('db1', moduleArgs, 'sqlite', dir), log: logged.log }) as SqliteDb;
}

/** Ask every 5 ms until the answer is `want` (a file check runs on its own timer), for at most 5 s. */
async function untilAnswer(db: SqliteDb, key: string, want: string): Promise<Reply> {
  const end = Date.now() + 5000;
  let r = ask(db, key);
  while (r !== want && Date.now() < end) {
    await new Promise((res) => setTimeout(res, 5));
    r = ask(db, key);
  }
  return r;
}

function ask(db: SqliteDb, key: string, map = 'aliases'): Reply {
  return sqlite.query!(db, map, key, conn) as Reply;
}

function opened(args: string[], moduleArgs: string[] = []): SqliteDb {
  const db = initDb(args, moduleArgs);
  sqlite.openDb!(db);
  return db;
}

describe('sqlite module', () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-sqlite-'));
    makeMapFile('aliases.db', [
      ['root', 'admin@example.org'],
      ['nobody', null],
      ...TRICKY_KEYS.map((k): [string, string] => [k, `value of ${k}`]),
    ]);
    const w = new Database(path.join(dir, 'virtual.db'));
    w.exec(`CREATE TABLE virtual (map TEXT, addr TEXT, dest TEXT, note TEXT, PRIMARY KEY (map, addr));
      INSERT INTO virtual VALUES ('alias', 'smith', 'dmk', 'n1'), ('alias', 'jones', 'jj', NULL),
        ('mbox', 'smith', '/var/mail/smith', 'quota 10M'), ('alias', 'a@example.org', 'domain-user', NULL);`);
    w.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers with the default query and `OK ${1}`, relative to the config directory', () => {
    const db = opened(['file=aliases.db']);
    assert.equal(ask(db, 'root'), 'OK admin@example.org');
    assert.equal(ask(db, 'unknown'), 'NOTFOUND ');
    assert.equal(ask(db, 'ROOT'), 'NOTFOUND ', 'lookups are exact, not case-folded');
    sqlite.closeDb!(db);
  });

  it('renders a NULL column as an empty string instead of failing', () => {
    const db = opened(['file=aliases.db', 'positive-reply=OK [${value}] for ${key}']);
    assert.equal(ask(db, 'nobody'), 'OK [] for nobody');
    sqlite.closeDb!(db);
  });

  it('looks up quotes, backslashes, unicode and injection attempts literally', () => {
    const db = opened(['file=aliases.db']);
    for (const k of TRICKY_KEYS) assert.equal(ask(db, k), `OK value of ${k}`, k);
    assert.equal(ask(db, "nothing' OR '1'='1"), 'NOTFOUND ');
    assert.equal(ask(db, "root' --"), 'NOTFOUND ');
    sqlite.closeDb!(db);
    const check = new Database(path.join(dir, 'aliases.db'), { readonly: true });
    assert.equal((check.prepare('SELECT count(*) AS n FROM map').get() as { n: number }).n, TRICKY_KEYS.length + 2);
    check.close();
  });

  it('binds :map and :key and renders columns by name, by number and request variables', () => {
    const db = opened([
      'file=virtual.db',
      'query=SELECT dest, note FROM virtual WHERE map = :map AND addr = :key',
      'positive-reply=OK ${dest} [${2}] map=$map key=$key src=$src dst=$dst server=$server',
      'negative-reply=NOTFOUND no $key in $map',
    ]);
    assert.equal(ask(db, 'smith', 'alias'), 'OK dmk [n1] map=alias key=smith src=192.0.2.7 dst=127.0.0.1 server=main');
    assert.equal(ask(db, 'smith', 'mbox'), 'OK /var/mail/smith [quota 10M] map=mbox key=smith src=192.0.2.7 dst=127.0.0.1 server=main');
    assert.equal(ask(db, 'jones', 'alias'), 'OK jj [] map=alias key=jones src=192.0.2.7 dst=127.0.0.1 server=main');
    assert.equal(ask(db, 'smith', 'other'), 'NOTFOUND no smith in other');
    sqlite.closeDb!(db);
  });

  it("accepts GNU Smap's quoted '$key' form and literals mixing text and variables", () => {
    const db = opened(['file=virtual.db', "query=SELECT dest FROM virtual WHERE map = '$map' AND addr = '$key@example.org'"]);
    assert.equal(ask(db, 'a', 'alias'), 'OK domain-user');
    assert.equal(ask(db, "a' OR '1'='1", 'alias'), 'NOTFOUND ');
    sqlite.closeDb!(db);
  });

  it('takes defaults from the module statement; the database arguments win', () => {
    const moduleArgs = ['query=SELECT dest FROM virtual WHERE map = :map AND addr = :key', 'positive-reply=OK module:${1}'];
    const db = opened(['file=virtual.db', 'positive-reply=OK db:${dest}'], moduleArgs);
    assert.equal(ask(db, 'smith', 'alias'), 'OK db:dmk');
    sqlite.closeDb!(db);
    const db2 = opened(['file=virtual.db'], moduleArgs);
    assert.equal(ask(db2, 'smith', 'alias'), 'OK module:dmk');
    sqlite.closeDb!(db2);
  });

  it('a missing file fails the open with a BackendError, and works once the file appears', () => {
    const db = initDb(['file=later.db', 'allow-missing']);
    assert.throws(() => sqlite.openDb!(db), (e: unknown) => e instanceof BackendError && /later\.db/.test(e.message));
    assert.equal(ask(db, 'root'), 'TEMP database error', 'the client sees no file path');
    assert.match(lastLoggedError(), /cannot open .*later\.db/);
    makeMapFile('later.db', [['root', 'late']]);
    sqlite.openDb!(db);
    assert.equal(ask(db, 'root'), 'OK late');
    sqlite.closeDb!(db);
  });

  it('a file that is not a database, or lacks the table, fails the open with the reason', () => {
    writeFileSync(path.join(dir, 'garbage.db'), 'this is not an sqlite file, just some text '.repeat(100));
    assert.throws(() => sqlite.openDb!(initDb(['file=garbage.db'])), (e: unknown) => e instanceof BackendError && /not a database/.test(e.message));
    const empty = new Database(path.join(dir, 'empty.db'));
    empty.close();
    assert.throws(() => sqlite.openDb!(initDb(['file=empty.db'])), (e: unknown) => e instanceof BackendError && /no such table: map/.test(e.message));
  });

  it('answers the onerror reply on a query error and recovers when the table is back', () => {
    const file = makeMapFile('changing.db', [['k', 'v1']]);
    const db = opened(['file=changing.db', 'onerror-reply=TEMP lookup of ${key} failed: ${error}']);
    assert.equal(ask(db, 'k'), 'OK v1');
    const w = new Database(file);
    w.exec('DROP TABLE map');
    assert.equal(ask(db, 'k'), 'TEMP lookup of k failed: database error');
    assert.match(lastLoggedError(), /no such table: map/);
    w.exec("CREATE TABLE map (key TEXT PRIMARY KEY, value TEXT); INSERT INTO map VALUES ('k', 'v2')");
    w.close();
    assert.equal(ask(db, 'k'), 'OK v2');
    sqlite.closeDb!(db);
  });

  it('answers TEMP while a writer holds the lock, and OK after it commits', () => {
    const file = makeMapFile('locked.db', [['k', 'v']]);
    const db = opened(['file=locked.db', 'busy-timeout=20ms']);
    const w = new Database(file);
    w.exec('BEGIN EXCLUSIVE');
    w.exec("UPDATE map SET value = 'v2'");
    assert.equal(ask(db, 'k'), 'TEMP database error');
    assert.match(lastLoggedError(), /locked/);
    w.exec('COMMIT');
    w.close();
    assert.equal(ask(db, 'k'), 'OK v2');
    sqlite.closeDb!(db);
  });

  it('picks up a file that was replaced by rename, as makemap does', async () => {
    makeMapFile('swap.db', [['k', 'old']]);
    const db = opened(['file=swap.db', 'check-interval=10ms']);
    assert.equal(ask(db, 'k'), 'OK old');
    makeMapFile('swap.db.new', [['k', 'new']]);
    renameSync(path.join(dir, 'swap.db.new'), path.join(dir, 'swap.db'));
    assert.equal(await untilAnswer(db, 'k', 'OK new'), 'OK new');
    sqlite.closeDb!(db);
  });

  it('immutable: answers while holding its read lock, follows a rename, and keeps in-place writers out', async () => {
    makeMapFile('frozen.db', [['k', 'old']]);
    const db = opened(['file=frozen.db', 'immutable', 'check-interval=10ms']);
    assert.equal(ask(db, 'k'), 'OK old');
    assert.equal(ask(db, 'k'), 'OK old');
    // The lock is held between lookups: a writer in place cannot get in.
    const w = new Database(path.join(dir, 'frozen.db'), { timeout: 0 });
    assert.throws(() => w.exec("UPDATE map SET value = 'changed'"), /locked|busy/i);
    w.close();
    // Replacing the file whole, as smapd-makemap does, is seen.
    makeMapFile('frozen.db.new', [['k', 'new']]);
    renameSync(path.join(dir, 'frozen.db.new'), path.join(dir, 'frozen.db'));
    assert.equal(await untilAnswer(db, 'k', 'OK new'), 'OK new');
    sqlite.closeDb!(db);
    await assert.rejects(async () => sqlite.initDb(['file=frozen.db', 'immutable', 'readonly=no'], databaseContext()), /immutable needs readonly/);
  });

  it('tells the cache which client facts its answers depend on, from the query and the replies', () => {
    const deps = (args: string[]) => sqlite.answerDependsOn!(initDb(['file=aliases.db', ...args]));
    assert.deepEqual(deps([]), []);
    assert.deepEqual(deps(['query=SELECT value FROM map WHERE key = :key AND src = $src']), ['src']);
    assert.deepEqual(deps(['positive-reply=OK ${1} via ${server}']), ['serverId']);
    assert.deepEqual(deps(['negative-reply=NOTFOUND for ${dst}', 'query=SELECT value FROM map WHERE key = $key OR key = $src']), ['src', 'dst']);
    assert.deepEqual(deps(['onerror-reply=TEMP ${src}: ${error}']), [], 'failures are never cached');
  });

  it('opens read-only unless readonly=no', () => {
    makeMapFile('rw.db', []);
    const q = "query=INSERT INTO map (key, value) VALUES (:key, 'added') RETURNING value";
    const ro = opened(['file=rw.db', q]);
    assert.equal(ask(ro, 'k'), 'TEMP database error');
    assert.match(lastLoggedError(), /readonly/);
    sqlite.closeDb!(ro);
    const rw = opened(['file=rw.db', q, 'readonly=no']);
    assert.equal(ask(rw, 'k'), 'OK added');
    sqlite.closeDb!(rw);
  });

  it('a statement that returns no rows is refused at open', () => {
    makeMapFile('upd.db', []);
    const db = initDb(['file=upd.db', "query=UPDATE map SET value = 'x' WHERE key = :key"]);
    assert.throws(() => sqlite.openDb!(db), (e: unknown) => e instanceof BackendError && /returns no rows/.test(e.message));
  });

  it('rejects bad arguments at initDb with a clear message, without touching the file', () => {
    const bad: [string[], RegExp][] = [
      [[], /file= is required/],
      [['file=x.db', 'colour=blue'], /unknown option 'colour'/],
      [['file=x.db', 'query=SELECT value FROM map WHERE key = ?'], /positional \?/],
      [['file=x.db', 'query=SELECT value FROM map WHERE key = $kee'], /unknown variable \$kee/],
      [['file=x.db', 'negative-reply=NOTFOUND ${1}'], /negative-reply: unknown variable \$\{1\} \(available: \$\{key\}, \$\{map\}, \$\{src\}, \$\{dst\}, \$\{server\};/],
      [['file=x.db', 'onerror-reply=TEMP ${value}'], /onerror-reply: unknown variable \$\{value\} \(available: .*\$\{error\};/],
      [['file=x.db', 'positive-reply=OK ${0}'], /column numbers start at 1/],
      [['file=x.db', 'busy-timeout=soon'], /busy-timeout' must be a duration/],
      [['file=x.db', 'readonly=maybe'], /readonly' must be yes or no/],
    ];
    for (const [args, why] of bad) {
      assert.throws(() => initDb(args), (e: unknown) => e instanceof ModuleArgumentError && why.test(e.message), args.join(' '));
    }
    assert.throws(() => sqlite.init!(['bogus=1'], databaseContext()), /unknown option 'bogus'/);
    assert.throws(() => initDb(['file=x.db']), (e: unknown) => e instanceof ModuleArgumentError && /SQLite file .*x\.db does not exist: every lookup would answer TEMP/.test(e.message));
    assert.doesNotThrow(() => initDb(['file=x.db', 'allow-missing']));
  });
});
