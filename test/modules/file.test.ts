import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import fileModule, { type FileDb } from '../../modules/file/index.js';
import { fallbackKeys } from '../../modules/file/search.js';
import type { ConnInfo, DatabaseContext } from '../../src/modules/api.js';
import { BackendError, ModuleArgumentError } from '../../src/errors.js';
import { databaseContext } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 's', family: 'unix', src: '', srcPort: 0, dst: '/tmp/s', dstPort: 0 };

let dir: string;
const opened: FileDb[] = [];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-file-'));
});
after(async () => {
  for (const db of opened) await fileModule.closeDb!(db);
  await rm(dir, { recursive: true, force: true });
});

/** A context whose log lines are kept, to check what the module reports. */
function loggingContext(): { ctx: DatabaseContext; logs: Array<{ level: number; msg: string; err?: string }> } {
  const logs: Array<{ level: number; msg: string; err?: string }> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  const ctx = { ...databaseContext('db', [], 'file', dir), log: pino({ level: 'debug' }, sink) };
  return { ctx, logs };
}

let fileNo = 0;
async function mapFile(text: string): Promise<string> {
  const name = `map-${++fileNo}.txt`;
  await writeFile(path.join(dir, name), text);
  return name;
}

/** Replace a file the way editors and `mv` do: a new inode renamed over the old name. */
async function replaceFile(name: string, text: string): Promise<void> {
  const tmp = path.join(dir, `${name}.new`);
  await writeFile(tmp, text);
  await rename(tmp, path.join(dir, name));
}

async function openMap(text: string, args: string[] = [], ctx?: DatabaseContext): Promise<FileDb> {
  const name = await mapFile(text);
  const db = fileModule.initDb([`file=${name}`, ...args], ctx ?? databaseContext('db', [], 'file', dir)) as FileDb;
  await fileModule.openDb!(db);
  opened.push(db);
  return db;
}

function q(db: FileDb, key: string, map = 'aliases'): string {
  const r = fileModule.query!(db, map, key, conn);
  assert.equal(typeof r, 'string', 'the file module answers synchronously');
  return r as string;
}

describe('file module: arguments', () => {
  const ctx = databaseContext('db', [], 'file', '/nonexistent');
  it('needs file=', () => {
    assert.throws(() => fileModule.initDb([], ctx), (e: unknown) => e instanceof ModuleArgumentError && /missing file=PATH/.test(e.message));
  });
  it('suggests file= for a bare path', () => {
    assert.throws(() => fileModule.initDb(['/etc/aliases'], ctx), /unexpected argument '\/etc\/aliases' \(did you mean file=\/etc\/aliases\?\)/);
  });
  it('rejects bad values, unknown template variables, and nomore with negative-reply', () => {
    assert.throws(() => fileModule.initDb(['file=x', 'reload=soon'], ctx), /reload.*duration/);
    assert.throws(() => fileModule.initDb(['file=x', 'positive-reply=OK ${alias}'], ctx), /positive-reply: unknown variable \$\{alias\} \(available: \$\{map\}, \$\{key\}, \$\{value\}, \$\{matched\}/);
    assert.throws(() => fileModule.initDb(['file=x', 'negative-reply=NOTFOUND ${value}'], ctx), /negative-reply: unknown variable \$\{value\}/);
    assert.throws(() => fileModule.initDb(['file=x', 'nomore', 'negative-reply=NOTFOUND'], ctx), /nomore and negative-reply/);
    assert.throws(() => fileModule.initDb(['file=x', 'colour=red'], ctx), /unknown option 'colour'/);
  });
  it('refuses a missing file at initDb (smapd -t), or with allow-missing only warns and leaves the open for later', () => {
    assert.throws(
      () => fileModule.initDb(['file=does-not-exist'], ctx),
      (e: unknown) => e instanceof ModuleArgumentError && /map file \/nonexistent\/does-not-exist does not exist: every lookup would answer TEMP \(add allow-missing/.test(e.message),
    );
    const { ctx: logged, logs } = loggingContext();
    assert.doesNotThrow(() => fileModule.initDb(['file=does-not-exist', 'allow-missing'], logged));
    assert.equal(logs.filter((l) => l.level === 40 && /does-not-exist does not exist \(allow-missing\)/.test(l.msg)).length, 1);
  });
  it('suggests the option a misspelt word was meant to be, rather than file=', () => {
    assert.throws(() => fileModule.initDb(['file=x', 'domain-fallbak'], ctx), /unknown option 'domain-fallbak' \(did you mean 'domain-fallback'\?\)/);
    assert.throws(() => fileModule.initDb(['fiel=x'], ctx), /unknown option 'fiel' \(did you mean 'file'\?\)/);
    assert.throws(() => fileModule.initDb(['file'], ctx), /option 'file' needs a value/);
  });
});

describe('file module: lookups', () => {
  it('answers hits with OK value and misses with NOTFOUND, keys exact by default', async () => {
    const db = await openMap('# aliases\nalice alice@example.org\nBob   bob@example.org, carol@example.org\nlist a,\n  b\n');
    assert.equal(q(db, 'alice'), 'OK alice@example.org');
    assert.equal(q(db, 'Bob'), 'OK bob@example.org, carol@example.org');
    assert.equal(q(db, 'list'), 'OK a, b');
    assert.equal(q(db, 'bob'), 'NOTFOUND ');
    assert.equal(q(db, 'ALICE'), 'NOTFOUND ');
    assert.equal(q(db, ''), 'NOTFOUND ');
  });

  it('folds keys at load and at lookup with fold-case', async () => {
    const db = await openMap('Alice A@Example.org\n', ['fold-case']);
    assert.equal(q(db, 'ALICE'), 'OK A@Example.org');
    assert.equal(q(db, 'alice'), 'OK A@Example.org');
  });

  it('answers NOMORE for a miss with nomore', async () => {
    const db = await openMap('a 1\n', ['nomore']);
    assert.equal(q(db, 'b'), 'NOMORE ');
    assert.equal(q(db, 'a'), 'OK 1');
  });

  it('renders templates with key, map, value and matched', async () => {
    const db = await openMap('alice alice@example.org\n@example.com catchall\n', [
      'positive-reply=OK ${value} (${key} in ${map} via ${matched})',
      'negative-reply=NOTFOUND no ${key} in ${map}',
      'domain-fallback',
    ]);
    assert.equal(q(db, 'alice', 'virtual'), 'OK alice@example.org (alice in virtual via alice)');
    assert.equal(q(db, 'x@example.com', 'virtual'), 'OK catchall (x@example.com in virtual via @example.com)');
    assert.equal(q(db, 'nobody', 'virtual'), 'NOTFOUND no nobody in virtual');
  });

  it('precomputes replies that depend only on the entry, including another status word', async () => {
    const db = await openMap('spammer.example REJECT go away\n', ['positive-reply=PERM ${value}', 'negative-reply=NOTFOUND ']);
    assert.equal(db.replies.perEntry, true);
    assert.equal(q(db, 'spammer.example'), 'PERM REJECT go away');
    assert.equal(q(db, 'other'), 'NOTFOUND ');
  });

  it('refuses a key without a value with file:line, and serves it as OK with allow-empty', async () => {
    const name = await mapFile('a 1\nempty\n');
    const db = fileModule.initDb([`file=${name}`], databaseContext('db', [], 'file', dir)) as FileDb;
    await assert.rejects(
      Promise.resolve(fileModule.openDb!(db)),
      (e: unknown) => e instanceof BackendError && e.message.includes(`${path.join(dir, name)}:2: key 'empty' has no value`),
    );
    const lax = await openMap('a 1\nempty\n', ['allow-empty']);
    assert.equal(q(lax, 'empty'), 'OK ');
  });

  it('keeps the last of duplicate keys and warns once with the count and place', async () => {
    const { ctx, logs } = loggingContext();
    const db = await openMap('k first\nj x\nk second\nj y\n', [], ctx);
    assert.equal(q(db, 'k'), 'OK second');
    assert.equal(q(db, 'j'), 'OK y');
    const warns = logs.filter((l) => l.level === 40);
    assert.equal(warns.length, 1);
    assert.match(warns[0]!.msg, /^2 duplicate key\(s\), the last one wins \(first: 'k' at .*map-\d+\.txt:3\)$/);
  });

  it('resolves file= against the config directory', async () => {
    const db = await openMap('a 1\n');
    assert.equal(db.store.file, path.join(dir, `map-${fileNo}.txt`));
  });

  it('loads a 200,000-line map', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(`user${i}@example${i % 100}.com\tmailbox${i}`);
    const db = await openMap(lines.join('\n') + '\n');
    assert.equal(db.store.entries!.size, 200_000);
    assert.equal(q(db, 'user0@example0.com'), 'OK mailbox0');
    assert.equal(q(db, 'user199999@example99.com'), 'OK mailbox199999');
    assert.equal(q(db, 'user200000@example0.com'), 'NOTFOUND ');
  });
});

describe('file module: domain fallback', () => {
  it('lists partial keys most specific first', () => {
    const both = { domainFallback: true, parentDomains: true };
    assert.deepEqual(fallbackKeys('user@mail.example.com', both), ['user@', '@mail.example.com', '@.example.com', '@.com']);
    assert.deepEqual(fallbackKeys('user@mail.example.com', { domainFallback: true, parentDomains: false }), ['user@', '@mail.example.com']);
    assert.deepEqual(fallbackKeys('mail.example.com', both), ['.example.com', '.com']);
    assert.deepEqual(fallbackKeys('mail.example.com', { domainFallback: true, parentDomains: false }), []);
    assert.deepEqual(fallbackKeys('user@example.com', { domainFallback: false, parentDomains: true }), []);
    assert.deepEqual(fallbackKeys('"a@b"@example.com', both), ['"a@b"@', '@example.com', '@.com']);
    assert.deepEqual(fallbackKeys('@example.com', both), ['@.com']);
    assert.deepEqual(fallbackKeys('user@', both), []);
    assert.deepEqual(fallbackKeys('.example.com', both), ['.com']);
    assert.deepEqual(fallbackKeys('example.com.', both), ['.com.'], 'a trailing dot stays, never a bare "."');
  });

  it('finds the most specific entry present', async () => {
    const entries = [
      'user@mail.example.com exact',
      'user@ localpart',
      '@mail.example.com domain',
      '@.example.com parent',
      '@.com tld',
      'mail.example.net host',
      '.example.net subdomains',
    ];
    const order = ['exact', 'localpart', 'domain', 'parent', 'tld'];
    for (let i = 0; i < order.length; i++) {
      const db = await openMap(entries.slice(i).join('\n') + '\n', ['domain-fallback', 'parent-domains']);
      assert.equal(q(db, 'user@mail.example.com'), `OK ${order[i]}`);
    }
    const db = await openMap(entries.join('\n') + '\n', ['domain-fallback', 'parent-domains']);
    assert.equal(q(db, 'other@mail.example.com'), 'OK domain');
    assert.equal(q(db, 'other@x.example.com'), 'OK parent');
    assert.equal(q(db, 'other@example.org'), 'NOTFOUND ');
    assert.equal(q(db, 'mail.example.net'), 'OK host');
    assert.equal(q(db, 'a.b.example.net'), 'OK subdomains');
    assert.equal(q(db, 'example.net'), 'NOTFOUND ', 'a leading-dot entry matches subdomains only');
  });

  it('searches exact keys only without the options, and folds before searching', async () => {
    const plain = await openMap('@example.com catchall\n');
    assert.equal(q(plain, 'x@example.com'), 'NOTFOUND ');
    const folded = await openMap('@Example.COM catchall\n', ['domain-fallback', 'fold-case']);
    assert.equal(q(folded, 'X@EXAMPLE.com'), 'OK catchall');
  });
});

describe('file module: open, reload and close', () => {
  it('throws BackendError when the file is missing at open, and opens once it exists', async () => {
    const db = fileModule.initDb(['file=later.txt', 'allow-missing'], databaseContext('db', [], 'file', dir)) as FileDb;
    opened.push(db);
    await assert.rejects(Promise.resolve(fileModule.openDb!(db)), (e: unknown) => e instanceof BackendError && /ENOENT/.test(e.message));
    await writeFile(path.join(dir, 'later.txt'), 'k v\n');
    await fileModule.openDb!(db);
    assert.equal(q(db, 'k'), 'OK v');
  });

  it('reloads a replaced file, keeps the old map when the new one is broken, then takes a fixed one', async () => {
    const { ctx, logs } = loggingContext();
    const db = await openMap('a 1\nb 2\n', ['reload=0'], ctx);
    const name = path.basename(db.store.file);
    assert.equal(await db.store.checkNow(), 'unchanged');

    await replaceFile(name, 'a 10\nc 3\n');
    assert.equal(await db.store.checkNow(), 'reloaded');
    assert.equal(q(db, 'a'), 'OK 10');
    assert.equal(q(db, 'b'), 'NOTFOUND ');
    assert.equal(q(db, 'c'), 'OK 3');

    await replaceFile(name, 'a 100\n  \tcontinued\nbroken\n');
    assert.equal(await db.store.checkNow(), 'failed');
    assert.equal(q(db, 'a'), 'OK 10', 'the old map still serves');
    const errors = logs.filter((l) => l.level === 50);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.err, `${db.store.file}:3: key 'broken' has no value`);
    assert.equal(await db.store.checkNow(), 'failed');
    assert.equal(logs.filter((l) => l.level === 50).length, 1, 'the same broken file is reported once');

    await replaceFile(name, 'a 1000\n');
    assert.equal(await db.store.checkNow(), 'reloaded');
    assert.equal(q(db, 'a'), 'OK 1000');
  });

  it('notices an in-place rewrite and keeps serving when the file disappears', async () => {
    const { ctx, logs } = loggingContext();
    const db = await openMap('a 1\n', ['reload=0'], ctx);
    await writeFile(db.store.file, 'a 22\n');
    assert.equal(await db.store.checkNow(), 'reloaded');
    assert.equal(q(db, 'a'), 'OK 22');
    await rm(db.store.file);
    assert.equal(await db.store.checkNow(), 'failed');
    assert.equal(q(db, 'a'), 'OK 22');
    assert.ok(logs.some((l) => l.level === 50 && /cannot stat map file/.test(l.msg)));
  });

  it('checks by itself every reload= interval', async () => {
    const db = await openMap('k old\n', ['reload=20ms']);
    await replaceFile(path.basename(db.store.file), 'k new\n');
    // Poll for the swap rather than assume a delay: the deadline only guards against a hang.
    const deadline = Date.now() + 10_000;
    while (q(db, 'k') !== 'OK new' && Date.now() < deadline) await sleep(10);
    assert.equal(q(db, 'k'), 'OK new');
  });

  it('drops the map at close and loads it again at the next open', async () => {
    const db = await openMap('k v\n');
    await fileModule.closeDb!(db);
    assert.throws(() => fileModule.query!(db, 'm', 'k', conn), (e: unknown) => e instanceof BackendError && /not loaded/.test(e.message));
    assert.equal(await db.store.checkNow(), 'closed');
    await fileModule.openDb!(db);
    assert.equal(q(db, 'k'), 'OK v');
  });
});

describe('file module: across a configuration reload', () => {
  /** A database as a reload makes it: same arguments, same config directory, a new state. */
  function again(db: FileDb, args: string[], ctx: DatabaseContext): FileDb {
    const next = fileModule.initDb([`file=${path.basename(db.store.file)}`, ...args], ctx) as FileDb;
    opened.push(next);
    return next;
  }

  it('serves the old map when the file is missing at reload, logs it, and loads the file once it is back', async () => {
    const { ctx, logs } = loggingContext();
    const old = await openMap('a 1\nb 2\n', ['reload=0', 'allow-missing'], ctx);
    await rm(old.store.file);
    // The reload: the new database is made while the old one serves, then the old one is closed.
    const next = again(old, ['reload=0', 'allow-missing'], ctx);
    await fileModule.closeDb!(old);
    await fileModule.openDb!(next);
    assert.equal(q(next, 'a'), 'OK 1');
    assert.equal(q(next, 'c'), 'NOTFOUND ');
    const errors = logs.filter((l) => l.level === 50 && /after the configuration reload; keeping the 2 entries/.test(l.msg));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.err!, /ENOENT/);
    assert.equal(await next.store.checkNow(), 'failed', 'still missing: no new error');
    assert.equal(logs.filter((l) => l.level === 50).length, 1);

    await writeFile(old.store.file, 'a 10\n');
    assert.equal(await next.store.checkNow(), 'reloaded');
    assert.equal(q(next, 'a'), 'OK 10');
    assert.equal(q(next, 'b'), 'NOTFOUND ');
  });

  it('serves the old map when the file is broken at reload, while the old database still serves too', async () => {
    const { ctx, logs } = loggingContext();
    const old = await openMap('a 1\n', ['reload=0'], ctx);
    await replaceFile(path.basename(old.store.file), 'a 2\nbroken\n');
    const next = again(old, ['reload=0'], ctx);
    await fileModule.openDb!(next);
    assert.equal(q(next, 'a'), 'OK 1');
    assert.ok(logs.some((l) => l.level === 50 && /has no value/.test(l.err ?? '')));
    assert.equal(await next.store.checkNow(), 'failed', 'the same broken version is not parsed again');
    await replaceFile(path.basename(old.store.file), 'a 3\n');
    assert.equal(await next.store.checkNow(), 'reloaded');
    assert.equal(q(next, 'a'), 'OK 3');
  });

  it('takes over nothing from a database with other options, or when nothing was loaded', async () => {
    const { ctx } = loggingContext();
    const old = await openMap('A 1\n', ['reload=0'], ctx);
    await rm(old.store.file);
    const folded = again(old, ['reload=0', 'fold-case', 'allow-missing'], ctx);
    await assert.rejects(Promise.resolve(fileModule.openDb!(folded)), (e: unknown) => e instanceof BackendError && /ENOENT/.test(e.message));

    const never = fileModule.initDb(['file=never-there.txt', 'allow-missing'], ctx) as FileDb;
    opened.push(never);
    const next = again(never, ['allow-missing'], ctx);
    await assert.rejects(Promise.resolve(fileModule.openDb!(next)), (e: unknown) => e instanceof BackendError && /ENOENT/.test(e.message));
  });
});
