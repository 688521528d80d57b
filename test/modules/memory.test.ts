import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import memory from '../../modules/memory/index.js';
import type { MemoryDb } from '../../modules/memory/db.js';
import { ModuleArgumentError, type ConnInfo } from '../../src/modules/api.js';
import { DatabaseHandleImpl } from '../../src/modules/handle.js';
import { databaseContext, moduleContext, silentLogger } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 't', family: 'unix', src: '', srcPort: 0, dst: '/tmp/s', dstPort: 0 };

async function open(args: string[], moduleArgs: string[] = []): Promise<MemoryDb> {
  const db = await memory.initDb(args, databaseContext('mem', moduleArgs));
  await memory.openDb!(db);
  return db;
}

async function run(db: MemoryDb, line: string[]): Promise<string> {
  const [name, ...args] = line;
  return memory.commands![name!]!.run(db, args);
}

function ask(db: MemoryDb, key: string, map = 'm'): string {
  return memory.query!(db, map, key, conn) as string;
}

describe('memory module: declaration', () => {
  it('answers queries, single-process, with administrative commands', () => {
    assert.deepEqual(memory.capabilities, ['query']);
    assert.equal(memory.multiProcess, false);
    assert.deepEqual(Object.keys(memory.commands!).sort(), ['bind', 'clear', 'count', 'list', 'remove', 'resolve', 'save']);
    for (const c of Object.values(memory.commands!)) assert.match(c.help, /^\w+( .*)? - \S/);
  });

  it('requires a positive whole capacity', async () => {
    const bad = async (args: string[], re: RegExp) =>
      assert.rejects(async () => memory.initDb(args, databaseContext('mem')), (err: Error) => {
        assert.ok(err instanceof ModuleArgumentError);
        assert.match(err.message, re);
        return true;
      });
    await bad([], /capacity= is required.*database mem memory capacity=10000/);
    await bad(['capacity=0'], /capacity must be a whole number above 0, not '0'/);
    await bad(['capacity=-3'], /whole number above 0/);
    await bad(['capacity=2.5'], /whole number above 0, not '2.5'/);
    await bad(['capacity=lots'], /must be a number, not 'lots'/);
  });

  it('rejects contradictory and unknown options', async () => {
    await assert.rejects(async () => memory.initDb(['capacity=5', 'nomore', 'negative-reply=NOTFOUND'], databaseContext()), /nomore and negative-reply= cannot be used together/);
    await assert.rejects(async () => memory.initDb(['capacity=5', 'size=3'], databaseContext()), /unknown option 'size'/);
    await assert.rejects(async () => memory.initDb(['capacity=5', 'snapshot='], databaseContext()), /snapshot= needs a file name/);
    await assert.rejects(
      async () => memory.initDb(['capacity=5', 'positive-reply=OK ${vaule}'], databaseContext()),
      /unknown variable \$\{vaule\}.*\$\{value\}/,
    );
  });

  it('takes defaults from the module statement but refuses a shared snapshot there', async () => {
    const db = await open([], ['capacity=2']);
    assert.equal(db.table.capacity, 2);
    assert.throws(() => memory.init!(['snapshot=x.snap'], moduleContext('memory')), /belongs on each database statement/);
    await assert.rejects(async () => memory.initDb(['capacity=2'], databaseContext('mem', ['snapshot=a'])), /belongs on each database/);
  });
});

describe('memory module: bindings', () => {
  it('binds, resolves, removes, with values of several words', async () => {
    const db = await open(['capacity=10']);
    assert.equal(ask(db, 'alice'), 'NOTFOUND ');
    assert.equal(await run(db, ['bind', 'alice', 'alice@mail.example', 'via', 'relay']), 'added alice alice@mail.example via relay');
    assert.equal(ask(db, 'alice'), 'OK alice@mail.example via relay');
    assert.equal(await run(db, ['resolve', 'alice']), 'alice@mail.example via relay');
    assert.equal(await run(db, ['remove', 'alice']), 'removed alice alice@mail.example via relay');
    assert.equal(ask(db, 'alice'), 'NOTFOUND ');
    await assert.rejects(run(db, ['resolve', 'alice']), /no binding for alice/);
    await assert.rejects(run(db, ['remove', 'alice']), /no binding for alice/);
  });

  it('keeps an existing binding unless told to replace it, and says which happened', async () => {
    const db = await open(['capacity=10']);
    await run(db, ['bind', 'k', 'first']);
    assert.equal(await run(db, ['bind', 'k', 'second']), 'exists k first (not changed; use --replace to change it)');
    assert.equal(ask(db, 'k'), 'OK first');
    assert.equal(await run(db, ['bind', 'k', 'first']), 'exists k first (already bound to this value)');
    assert.equal(await run(db, ['bind', 'k', 'second', '--replace']), 'replaced k second (was: first)');
    assert.equal(ask(db, 'k'), 'OK second');
    assert.equal(await run(db, ['bind', '--replace', 'k', 'third', 'word']), 'replaced k third word (was: second)');
    // After `--` a trailing --replace is part of the value.
    assert.equal(await run(db, ['bind', '--', 'j', 'a', '--replace']), 'added j a --replace');
    assert.equal(ask(db, 'j'), 'OK a --replace');
  });

  it('reports bad bind usage', async () => {
    const db = await open(['capacity=10']);
    await assert.rejects(run(db, ['bind', 'onlykey']), /usage: bind \[--replace\] KEY VALUE/);
    await assert.rejects(run(db, ['bind']), /usage: bind/);
    await assert.rejects(run(db, ['bind', '--force', 'k', 'v']), /unknown option '--force'/);
    await assert.rejects(run(db, ['bind', 'k', '']), /the value is empty/);
    await assert.rejects(run(db, ['bind', 'k', 'a\nb']), /must not contain a line break/);
    await assert.rejects(run(db, ['resolve']), /usage: resolve KEY/);
    await assert.rejects(run(db, ['resolve', 'a', 'b']), /usage: resolve KEY/);
    await assert.rejects(run(db, ['list', 'x']), /usage: list \(no arguments\)/);
    await assert.rejects(run(db, ['save']), /database mem has no snapshot= file/);
    assert.equal(db.table.size, 0);
  });

  it('refuses a new binding past capacity but allows replacing', async () => {
    const db = await open(['capacity=2']);
    await run(db, ['bind', 'a', '1']);
    await run(db, ['bind', 'b', '2']);
    await assert.rejects(run(db, ['bind', 'c', '3']), /table full: 2 of capacity=2 bindings used; remove bindings or raise capacity/);
    assert.equal(ask(db, 'c'), 'NOTFOUND ');
    assert.equal(await run(db, ['bind', 'a', 'one', '--replace']), 'replaced a one (was: 1)');
    assert.equal(await run(db, ['count']), '2 of 2 bindings used');
    await run(db, ['remove', 'b']);
    assert.equal(await run(db, ['bind', 'c', '3']), 'added c 3');
  });

  it('lists sorted bindings, quoting keys that need it', async () => {
    const db = await open(['capacity=10']);
    assert.equal(await run(db, ['list']), '');
    await run(db, ['bind', 'zed', 'last']);
    await run(db, ['bind', 'abc', 'first one']);
    await run(db, ['bind', 'with space', 'x']);
    await run(db, ['bind', 'q"uote', 'y']);
    assert.equal(await run(db, ['list']), ['abc first one', '"q\\"uote" y', '"with space" x', 'zed last'].join('\n'));
    assert.equal(await run(db, ['clear']), 'removed 4 bindings');
    assert.equal(await run(db, ['list']), '');
    assert.equal(ask(db, 'zed'), 'NOTFOUND ');
  });

  it('folds key case when asked', async () => {
    const db = await open(['capacity=10', 'fold-case']);
    await run(db, ['bind', 'Postmaster@Example.ORG', 'admin']);
    assert.equal(ask(db, 'POSTMASTER@example.org'), 'OK admin');
    assert.equal(await run(db, ['resolve', 'postmaster@EXAMPLE.org']), 'admin');
    assert.equal(await run(db, ['list']), 'postmaster@example.org admin');
    assert.equal(await run(db, ['bind', 'POSTMASTER@EXAMPLE.ORG', 'other']), 'exists postmaster@example.org admin (not changed; use --replace to change it)');

    const exact = await open(['capacity=10']);
    await run(exact, ['bind', 'Key', 'v']);
    assert.equal(ask(exact, 'key'), 'NOTFOUND ');
    assert.equal(ask(exact, 'Key'), 'OK v');
  });

  it('renders the configured replies', async () => {
    const db = await open(['capacity=10', 'positive-reply=OK smtp:[${value}] for ${key} in ${map}', 'nomore']);
    await run(db, ['bind', 'example.org', 'mx.example.net']);
    assert.equal(ask(db, 'example.org', 'transport'), 'OK smtp:[mx.example.net] for example.org in transport');
    assert.equal(ask(db, 'other.org'), 'NOMORE ');
    const neg = await open(['capacity=10', 'negative-reply=NOTFOUND no ${key} in ${map}']);
    assert.equal(ask(neg, 'x', 'aliases'), 'NOTFOUND no x in aliases');
    // A value cannot choose the status: it stays inside the reply text.
    await run(neg, ['bind', 'evil', 'PERM', 'gotcha']);
    assert.equal(ask(neg, 'evil'), 'OK PERM gotcha');
  });

  it('works through a database handle: commands, then synchronous answers', async () => {
    const state = await memory.initDb(['capacity=3'], databaseContext('mem'));
    const h = new DatabaseHandleImpl('mem', 'memory', memory, state, silentLogger, 0, undefined);
    assert.deepEqual([...h.commandNames].sort(), ['bind', 'clear', 'count', 'list', 'remove', 'resolve', 'save']);
    assert.equal(await h.command('bind', ['k', 'v']), 'added k v');
    assert.equal(h.query('m', 'k', conn), 'OK v');
    await assert.rejects(h.command('frobnicate', []), /database mem has no command 'frobnicate' \(it has: bind, resolve/);
    await h.close();
  });
});
