import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ClassicLevel } from 'classic-level';
import { makemapMain } from '../../src/cli/makemap.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-makemap-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function collect(stream: PassThrough): () => string {
  const parts: Buffer[] = [];
  stream.on('data', (c: Buffer) => parts.push(c));
  return () => Buffer.concat(parts).toString('utf8');
}

async function run(args: string[], stdinText?: string): Promise<Run> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  if (stdinText !== undefined) stdin.end(stdinText);
  const code = await makemapMain(args, { stdin, stdout, stderr });
  return { code, stdout: out(), stderr: err() };
}

function p(...names: string[]): string {
  return path.join(dir, ...names);
}

const SOURCE = `# virtual aliases
postmaster@example.com  root
info@example.com        alice,
                        bob
@example.org            catchall
ünïcode@example.com     ü
`;
const DUMPED = [
  '@example.org\tcatchall',
  'info@example.com\talice, bob',
  'postmaster@example.com\troot',
  'ünïcode@example.com\tü',
  '',
].join('\n');

describe('smapd-makemap: building and dumping', () => {
  it('round-trips a text map through LevelDB', async () => {
    await writeFile(p('src.txt'), SOURCE);
    const built = await run([p('src.txt'), p('out.ldb')]);
    assert.deepEqual(built, { code: 0, stdout: '', stderr: '' });
    const dumped = await run(['--dump', 'level', p('out.ldb')]);
    assert.equal(dumped.code, 0, dumped.stderr);
    assert.equal(dumped.stdout, DUMPED);
    // The dump is itself valid input that builds the same map.
    await writeFile(p('again.txt'), dumped.stdout);
    assert.equal((await run([p('again.txt'), p('again.ldb')])).code, 0);
    assert.equal((await run(['--dump', 'level', p('again.ldb')])).stdout, DUMPED);
    assert.equal((await readdir(dir)).filter((f) => f.includes('.tmp-')).length, 0, 'no temporary output is left');
  });

  it('round-trips through SQLite with the schema the sqlite module queries by default', async () => {
    await writeFile(p('src.txt'), SOURCE);
    const built = await run(['--type', 'sqlite', '-v', p('src.txt'), p('out.db')]);
    assert.equal(built.code, 0);
    assert.match(built.stderr, /out\.db: 4 entries from 6 lines of .*src\.txt/);
    const db = new Database(p('out.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT value FROM map WHERE key = :key').get({ key: 'info@example.com' }) as { value: string };
      assert.equal(row.value, 'alice, bob');
      assert.equal(db.pragma('journal_mode', { simple: true }), 'delete');
    } finally {
      db.close();
    }
    const dumped = await run(['--dump', 'sqlite', p('out.db')]);
    assert.deepEqual(dumped, { code: 0, stdout: DUMPED, stderr: '' });
  });

  it('reads standard input, folds case, and keeps the last duplicate with a warning', async () => {
    const built = await run(['-t', 'sqlite', '--fold-case', '-', p('fold.db')], 'Key one\nOTHER x\nkey two\n');
    assert.equal(built.code, 0);
    assert.equal(built.stderr, "smapd-makemap: warning: 1 duplicate key(s), the last one wins (first: 'key' at stdin:3)\n");
    assert.equal((await run(['--dump', 'sqlite', p('fold.db')])).stdout, 'key\ttwo\nother\tx\n');

    const lvl = await run(['--fold-case', '-', p('fold.ldb')], 'A 1\nb 2\na 3\nB 4\n');
    assert.match(lvl.stderr, /2 duplicate key\(s\), the last one wins \(first: 'a' at stdin:3\)/);
    assert.equal((await run(['--dump', 'level', p('fold.ldb')])).stdout, 'a\t3\nb\t4\n');
  });

  it('writes and dumps a named sublevel or table', async () => {
    await writeFile(p('small.txt'), 'k v\n');
    assert.equal((await run(['--sublevel', 'access', p('small.txt'), p('sub.ldb')])).code, 0);
    assert.equal((await run(['--dump', 'level', '--sublevel', 'access', p('sub.ldb')])).stdout, 'k\tv\n');
    assert.equal((await run(['--dump', 'level', p('sub.ldb')])).stdout, '!access!k\tv\n');
    assert.equal((await run(['-t', 'sqlite', '--table', 'access', p('small.txt'), p('table.db')])).code, 0);
    assert.equal((await run(['--dump', 'sqlite', '--table', 'access', p('table.db')])).stdout, 'k\tv\n');
  });

  it('builds several maps into one output with --map NAME=INPUT', async () => {
    await writeFile(p('virtual.txt'), 'a@example.com alice\n');
    await writeFile(p('access.txt'), 'spam.example REJECT\nspam.example PERM\n');
    const lvl = await run(['-v', '-m', 'virtual=' + p('virtual.txt'), '--map', 'access=-', p('multi.ldb')], 'x OK\n');
    assert.equal(lvl.code, 0, lvl.stderr);
    assert.match(lvl.stderr, /multi\.ldb \(sublevel virtual\): 1 entries from 1 lines/);
    assert.match(lvl.stderr, /multi\.ldb \(sublevel access\): 1 entries from 1 lines of stdin/);
    assert.equal((await run(['--dump', 'level', p('multi.ldb')])).stdout, '!access!x\tOK\n!virtual!a@example.com\talice\n');

    const sql = await run(['-t', 'sqlite', '--map', `virtual=${p('virtual.txt')}`, '--map', `access=${p('access.txt')}`, p('multi.db')]);
    assert.equal(sql.code, 0);
    assert.match(sql.stderr, /1 duplicate key\(s\), the last one wins \(first: 'spam\.example' at .*access\.txt:2\)/);
    assert.equal((await run(['--dump', 'sqlite', '--table', 'access', p('multi.db')])).stdout, 'spam.example\tPERM\n');
    assert.equal((await run(['--dump', 'sqlite', '--table', 'virtual', p('multi.db')])).stdout, 'a@example.com\talice\n');
  });

  it('replaces an existing map of the same type', async () => {
    await writeFile(p('v1.txt'), 'k one\n');
    await writeFile(p('v2.txt'), 'k two\n');
    for (const [type, out] of [['level', 'replace.ldb'], ['sqlite', 'replace.db']] as const) {
      assert.equal((await run(['-t', type, p('v1.txt'), p(out)])).code, 0);
      assert.equal((await run(['-t', type, p('v2.txt'), p(out)])).code, 0);
      assert.equal((await run(['--dump', type, p(out)])).stdout, 'k\ttwo\n');
    }
  });
});

describe('smapd-makemap: errors', () => {
  it('exits 65 with file:line for a bad input line and leaves no output', async () => {
    await writeFile(p('bad.txt'), 'good value\n# comment\nnovalue\nmore x\n');
    for (const type of ['level', 'sqlite']) {
      const out = p(`bad-${type}.out`);
      const r = await run(['-t', type, p('bad.txt'), out]);
      assert.equal(r.code, 65);
      assert.equal(r.stderr, `smapd-makemap: ${p('bad.txt')}:3: key 'novalue' has no value\n`);
      assert.equal(existsSync(out), false);
    }
    assert.equal((await readdir(dir)).filter((f) => f.includes('.tmp-')).length, 0);
    const r = await run(['-', p('cont.ldb')], '  starts with a blank\n');
    assert.equal(r.code, 65);
    assert.match(r.stderr, /stdin:1: continuation line/);
  });

  it('exits 64 for usage errors', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /need INPUT and OUTPUT/],
      [['only-one'], /need INPUT and OUTPUT/],
      [['-t', 'gdbm', 'a', 'b'], /argument 'gdbm' is invalid/],
      [['--dump', 'level'], /--dump takes exactly one PATH/],
      [['--dump', 'level', '-t', 'sqlite', 'x'], /drop --type/],
      [['--dump', 'sqlite', '--fold-case', 'x'], /apply to building/],
      [['--sublevel', 'x', '-t', 'sqlite', 'a', 'b'], /--sublevel applies to --type level only/],
      [['--sublevel', 'a b', 'a', 'b'], /sublevel name 'a b'/],
      [['-t', 'sqlite', '--table', 'x; drop', 'a', 'b'], /table name 'x; drop'/],
      [['--table', 't', 'a', 'b'], /--table applies to --type sqlite only/],
      [['same.txt', './same.txt'], /same file/],
      [['a.txt', '-'], /OUTPUT cannot be standard output/],
      [['--bogus', 'a', 'b'], /unknown option '--bogus'/],
      [['--map', 'x=a', 'in', 'out'], /with --map, give only OUTPUT/],
      [['--map', 'noequals', 'out'], /--map needs NAME=INPUT, not 'noequals'/],
      [['--map', 'x=a', '--map', 'x=b', 'out'], /--map x is given twice/],
      [['--map', 'x=-', '--map', 'y=-', 'out'], /standard input \(-\) can be read only once/],
      [['-t', 'sqlite', '--map', '1x=a', 'out'], /table name '1x'/],
      [['--sublevel', 's', '--map', 'x=a', 'out'], /either --sublevel\/--table with one INPUT, or --map/],
      [['--dump', 'level', '--map', 'x=a', 'p'], /apply to building/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^smapd-makemap: .*\nusage: smapd-makemap \[options\] INPUT OUTPUT .*\n\(smapd-makemap --help shows every option\)\n$/, args.join(' '));
    }
    const version = await run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^smapd-makemap \(smapd\) \d+\.\d+\.\d+\n$/);
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes: 0 done, 64 usage error, 65 bad input/);
  });

  it('exits 74 for I/O problems and never replaces something that is not a map', async () => {
    await writeFile(p('in.txt'), 'k v\n');
    assert.equal((await run([p('missing.txt'), p('x.ldb')])).code, 74);
    await writeFile(p('precious.txt'), 'not a database\n');
    const r1 = await run(['-t', 'sqlite', p('in.txt'), p('precious.txt')]);
    assert.equal(r1.code, 74);
    assert.match(r1.stderr, /exists and is not an SQLite database; refusing to replace it/);
    assert.equal(await readFile(p('precious.txt'), 'utf8'), 'not a database\n');
    await mkdir(p('somedir'));
    await writeFile(p('somedir', 'file'), 'x');
    const r2 = await run([p('in.txt'), p('somedir')]);
    assert.equal(r2.code, 74);
    assert.match(r2.stderr, /is not a LevelDB directory; refusing to replace it/);
    assert.ok(existsSync(p('somedir', 'file')));
    assert.equal((await run(['--dump', 'level', p('somedir')])).code, 74);
    assert.equal((await run(['--dump', 'sqlite', p('nothing.db')])).code, 74);
  });

  it('refuses to replace a LevelDB directory that another handle has open', async () => {
    await writeFile(p('in.txt'), 'k v\n');
    assert.equal((await run([p('in.txt'), p('busy.ldb')])).code, 0);
    const holder = new ClassicLevel(p('busy.ldb'));
    await holder.open();
    try {
      const r = await run([p('in.txt'), p('busy.ldb')]);
      assert.equal(r.code, 74);
      assert.match(r.stderr, /cannot be replaced \(is smapd using it\?\)/);
    } finally {
      await holder.close();
    }
  });

  it('dumps what it can and exits 65 for entries a text map cannot hold', async () => {
    const file = p('hand.db');
    const db = new Database(file);
    db.exec('CREATE TABLE map (key TEXT PRIMARY KEY, value TEXT)');
    const ins = db.prepare('INSERT INTO map VALUES (?, ?)');
    ins.run('ok', 'fine');
    ins.run('has space', 'v');
    ins.run('multi', 'line\nbreak');
    ins.run('nul', null);
    db.close();
    const r = await run(['--dump', 'sqlite', file]);
    assert.equal(r.code, 65);
    assert.equal(r.stdout, 'ok\tfine\n');
    assert.match(r.stderr, /key "has space": the key contains white space; not written/);
    assert.match(r.stderr, /key "multi": the value contains a line break; not written/);
    assert.match(r.stderr, /key "nul": the value is NULL; not written/);
    assert.match(r.stderr, /3 entries cannot be written as a text map/);
    assert.equal((await run(['--dump', 'sqlite', '--table', 'other', file])).code, 65);
  });
});
