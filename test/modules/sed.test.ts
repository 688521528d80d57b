import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sed from '../../modules/sed/index.js';
import { BackendError, ModuleArgumentError, type ConnInfo } from '../../src/modules/api.js';
import { databaseContext, moduleContext } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 'test', family: 'inet', src: '127.0.0.1', srcPort: 4000, dst: '127.0.0.1', dstPort: 3145 };

async function open(args: string[], moduleArgs: string[] = []) {
  return sed.initDb(args, databaseContext('db', moduleArgs, 'sed'));
}

async function ask(args: string[], key: string, moduleArgs: string[] = [], map = 'map'): Promise<string> {
  return sed.query!(await open(args, moduleArgs), map, key, conn);
}

async function rejects(args: string[], message: RegExp, moduleArgs: string[] = []): Promise<void> {
  await assert.rejects(async () => open(args, moduleArgs), (err: unknown) => {
    assert.ok(err instanceof ModuleArgumentError, `expected ModuleArgumentError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('sed module: replies', () => {
  it('answers OK with the rewritten key, NOTFOUND when nothing changed', async () => {
    assert.equal(await ask(['s/<(.*)>/\\1/'], '<user@example.org>'), 'OK user@example.org');
    assert.equal(await ask(['s/<(.*)>/\\1/'], 'user@example.org'), 'NOTFOUND ');
  });

  it('upper-cases the whole key with \\U&', async () => {
    assert.equal(await ask(['s/.*/\\U&/'], 'hello'), 'OK HELLO');
  });

  it('uses custom templates with ${map}, ${key} and ${xform}', async () => {
    const args = ['positive-reply=OK ${map}:${key}->${xform}', 'negative-reply=NOTFOUND ${key} unchanged', 's/a/b/'];
    assert.equal(await ask(args, 'car', [], 'cars'), 'OK cars:car->cbr');
    assert.equal(await ask(args, 'xyz'), 'NOTFOUND xyz unchanged');
  });

  it('takes reply defaults from the module statement, overridden by the database', async () => {
    assert.equal(await ask(['s/a/b/'], 'a', ['positive-reply=OK mod ${xform}']), 'OK mod b');
    assert.equal(await ask(['positive-reply=OK db', 's/a/b/'], 'a', ['positive-reply=OK mod']), 'OK db');
    assert.equal(await ask(['s/a/b/'], 'x', ['negative-reply=NOMORE']), 'NOMORE ');
  });

  it('keeps the status word of a template fixed whatever the key says', async () => {
    assert.equal(await ask(['positive-reply=${xform}', 's/.*/PERM boom/'], 'k'), 'OK PERM boom');
  });

  it('precomputes a template without variables', async () => {
    const db = await open(['negative-reply=NOTFOUND [none]', 's/a/b/']);
    assert.equal(db.negative.constant, 'NOTFOUND [none]');
    assert.equal(await sed.query!(db, 'm', 'zzz', conn), 'NOTFOUND [none]');
  });
});

describe('sed module: expressions', () => {
  it('applies ;-separated expressions in sequence', async () => {
    assert.equal(await ask(['s/a/b/;s/c/d/'], 'ac'), 'OK bd');
    // Each sees the previous output: the second undoes the first.
    assert.equal(await ask(['s/a/b/;s/b/a/'], 'a'), 'NOTFOUND ');
  });

  it('applies expressions given as separate words in sequence', async () => {
    assert.equal(await ask(['s/a/b/', 's/b/c/'], 'a'), 'OK c');
    assert.equal(await ask(['s/a/b/', 'icase', 's/B/X/;s/x/y/'], 'a'), 'OK y');
  });

  it('replaces the first match, or every one with g', async () => {
    assert.equal(await ask(['s/o/0/'], 'foo.org'), 'OK f0o.org');
    assert.equal(await ask(['s/o/0/g'], 'foo.org'), 'OK f00.0rg');
  });

  it('replaces only the Nth match with a number', async () => {
    assert.equal(await ask(['s/o/0/2'], 'foo.org'), 'OK fo0.org');
    assert.equal(await ask(['s/o/0/4'], 'foo.org'), 'NOTFOUND ');
  });

  it('replaces the Nth and every later match with N and g', async () => {
    assert.equal(await ask(['s/L/x/2g'], 'hELLO'), 'OK hELxO');
    assert.equal(await ask(['s/o/0/g2'], 'foo.ogo'), 'OK fo0.0g0');
    assert.equal(await ask(['s/b*/x/3g'], 'abc'), 'OK abcx');
  });

  it('matches case-insensitively with the i flag', async () => {
    assert.equal(await ask(['s/EXAMPLE/x/i'], 'user@example.org'), 'OK user@x.org');
    assert.equal(await ask(['s/EXAMPLE/x/'], 'user@example.org'), 'NOTFOUND ');
  });

  it('switches to basic syntax with b and back to extended with x', async () => {
    assert.equal(await ask(['s/a+/X/b'], 'caa+t'), 'OK caXt');
    assert.equal(await ask(['noextended', 's/a+/X/x'], 'caat'), 'OK cXt');
  });

  it('treats an anchored regex as matching once even with g', async () => {
    assert.equal(await ask(['s/^a/b/g'], 'aaa'), 'OK baa');
    assert.equal(await ask(['s/a$/b/g'], 'aaa'), 'OK aab');
  });

  it('handles empty matches as GNU sed does', async () => {
    assert.equal(await ask(['s/a*/x/g'], 'baaac'), 'OK xbxcx');
    assert.equal(await ask(['s/x*/-/g'], 'abc'), 'OK -a-b-c-');
    assert.equal(await ask(['s/^$/empty/'], ''), 'OK empty');
  });

  it('accepts any punctuation delimiter and escaped delimiters', async () => {
    assert.equal(await ask(['s,a,b,'], 'a'), 'OK b');
    assert.equal(await ask(['s|x|y|'], 'x'), 'OK y');
    assert.equal(await ask(['s|a\\|b|[\\|]|'], 'a|b'), 'OK [|]');
    assert.equal(await ask(['s/\\//_/g'], 'a/b/c'), 'OK a_b_c');
    assert.equal(await ask(['s;a;b;g;s/b/c/'], 'aa'), 'OK cb');
  });

  it('keeps = inside an expression apart from options', async () => {
    assert.equal(await ask(['s/=/@/'], 'SRS0=x'), 'OK SRS0@x');
  });
});

describe('sed module: replacement text', () => {
  it('inserts the whole match with & and \\0, groups with \\1-\\9', async () => {
    assert.equal(await ask(['s/b+/[&]/'], 'abbc'), 'OK a[bb]c');
    assert.equal(await ask(['s/b+/[\\0]/'], 'abbc'), 'OK a[bb]c');
    assert.equal(await ask(['s/(.)(.)(.)(.)(.)(.)(.)(.)(.)/\\9\\8\\7\\6\\5\\4\\3\\2\\1/'], '123456789'), 'OK 987654321');
    assert.equal(await ask(['s/(x)?a/[\\1]/'], 'a'), 'OK []');
  });

  it('reads \\& and \\\\ as literal characters', async () => {
    assert.equal(await ask(['s/a/\\&\\\\/'], 'a'), 'OK &\\');
  });

  it('reads a backslash-digit as one group followed by a digit', async () => {
    assert.equal(await ask(['s/(a)/\\10/'], 'a'), 'OK a0');
  });

  it('turns C escapes into characters', async () => {
    const db = await open(['s/a/\\t/']);
    assert.equal(await sed.transform!(db, 'xay', conn), 'x\ty');
  });

  it('converts case with \\U, \\L, \\E, \\u and \\l', async () => {
    assert.equal(await ask(['s/.*/\\u&/'], 'hello'), 'OK Hello');
    assert.equal(await ask(['s/(.*)@(.*)/\\L\\1\\E@\\U\\2/'], 'JoHn@example.org'), 'OK john@EXAMPLE.ORG');
    assert.equal(await ask(['s/.*/\\L\\u&/'], 'hELLO'), 'OK Hello');
    assert.equal(await ask(['s/(a)(b)(c)/\\U\\1\\l\\2\\3/'], 'abc'), 'OK AbC');
    assert.equal(await ask(['s/\\w+/\\u&/g'], 'hello world'), 'OK Hello World');
    assert.equal(await ask(['s/(x?)(a)/\\u\\1\\2/'], 'ab'), 'OK Ab');
  });
});

describe('sed module: options', () => {
  it('matches case-insensitively with icase, and noicase undoes a module icase', async () => {
    assert.equal(await ask(['icase', 's/A/b/'], 'a'), 'OK b');
    assert.equal(await ask(['s/A/b/'], 'a', ['icase']), 'OK b');
    assert.equal(await ask(['noicase', 's/A/b/'], 'a', ['icase']), 'NOTFOUND ');
    assert.equal(await ask(['icase=no', 's/A/b/'], 'a', ['icase']), 'NOTFOUND ');
  });

  it('uses basic syntax with noextended on the module or the database', async () => {
    assert.equal(await ask(['noextended', 's/a+/X/'], 'aa+'), 'OK aX');
    assert.equal(await ask(['s/a+/X/'], 'aa+', ['noextended']), 'OK aX');
    assert.equal(await ask(['extended', 's/a+/X/'], 'aa+', ['noextended']), 'OK X+');
  });

  it('rejects s-expressions and unknown options on the module statement', async () => {
    await assert.rejects(async () => sed.init!(['s/a/b/'], moduleContext('sed')), /belong on database statements/);
    await assert.rejects(async () => sed.init!(['icse'], moduleContext('sed')), /unknown option 'icse'/);
    await assert.doesNotReject(async () => sed.init!(['icase', 'noextended', 'onerror-reply=TEMP x'], moduleContext('sed')));
  });

  it('rejects a word that is neither an option nor an expression', async () => {
    await rejects(['positve-reply=OK', 's/a/b/'], /'positve-reply=OK' is neither an option .* nor an s-expression/);
  });

  it('rejects a database without expressions', async () => {
    await rejects(['icase'], /no s-expression given/);
  });
});

describe('sed module: errors', () => {
  it('names the bad expression', async () => {
    await rejects(['s/a/b/;s/c(/d/'], /invalid s-expression 's\/c\(\/d\/': unmatched \(/);
  });

  it('rejects unterminated expressions', async () => {
    await rejects(['s/a/b'], /unterminated replacement/);
    await rejects(['s/ab'], /unterminated regular expression/);
    await rejects(['s'], /missing delimiter/);
  });

  it('rejects bad flags', async () => {
    await rejects(['s/a/b/q'], /unknown flag 'q'/);
    await rejects(['s/a/b/0'], /match number must be 1 or more/);
    await rejects(['s/a/b/2g3'], /more than one match number/);
    await rejects(['s/a/b/xb'], /contradict/);
  });

  it('rejects bad regular expressions', async () => {
    await rejects(['s/[z-a]/b/'], /invalid range z-a/);
    await rejects(['s/[[:word:]]/b/'], /unknown character class \[:word:\]/);
    await rejects(['s/*a/b/'], /nothing to repeat/);
    await rejects(['s/a{3,1}/b/'], /invalid interval/);
    await rejects(['s/[ab/c/'], /unterminated bracket expression/);
    await rejects(['s//b/'], /empty regular expression/);
  });

  it('rejects references to groups that do not exist', async () => {
    await rejects(['s/a/\\1/'], /\\1 in replacement, but the regular expression has no groups/);
    await rejects(['s/(a)\\1/b/'], /'s\/\(a\)\\1\/b\/': back reference \\1 is not supported/);
  });

  it('rejects unknown escapes and template variables', async () => {
    await rejects(['s/a/\\q/'], /unknown escape \\q in replacement/);
    await rejects(['positive-reply=OK ${xfrom}', 's/a/b/'], /unknown variable \$\{xfrom\}/);
    await rejects(['onerror-reply=TEMP ${xform}', 's/a/b/'], /onerror-reply: unknown variable \$\{xform\}/);
  });

  it('answers TEMP, or the onerror reply, when a transformation fails at run time', async () => {
    const db = await open(['s/a/b/']);
    const failing = { ...db, expressions: [{ ...db.expressions[0]!, replacement: { expand: () => { throw new RangeError('too deep'); } } }] };
    assert.equal(await sed.query!(failing, 'm', 'a', conn), 'TEMP sed: transformation failed: too deep');
    const withReply = await open(['onerror-reply=NOTFOUND error for ${key} in ${map}', 's/a/b/']);
    const failing2 = { ...withReply, expressions: failing.expressions };
    assert.equal(await sed.query!(failing2, 'm', 'a', conn), 'NOTFOUND error for a in m');
  });
});

describe('sed module: the linear-time engine', () => {
  it('finds matches by code point and word boundary from where the last one ended', async () => {
    assert.equal(await ask(['s/x*/-/g'], '😀é'), 'OK -😀-é-');
    assert.equal(await ask(['s/\\<a/X/g'], 'a ba a'), 'OK X ba X');
    assert.equal(await ask(['s/a\\>/X/g'], 'aa ab a'), 'OK aX ab X');
    assert.equal(await ask(['s/^a/X/g'], 'aaa'), 'OK Xaa');
    assert.equal(await ask(['s/(a|aa)+$/X/'], 'a'.repeat(60) + 'b'), 'NOTFOUND ');
    assert.equal(await ask(['s/(a|aa)+$/X/'], 'b' + 'a'.repeat(60)), 'OK bX');
  });

  it('matches leftmost-first, as documented: the first alternative that leads to a match wins', async () => {
    assert.equal(await ask(['s/a|ab/[&]/'], 'ab'), 'OK [a]b');
    assert.equal(await ask(['s/(a|ab)(c|bcd)/[\\1,\\2]/'], 'abcd'), 'OK [a,bcd]');
  });

  it('keeps a group of an earlier round of a repeat, as GNU sed does', async () => {
    assert.equal(await ask(['s/((a)|b)+/[\\2]/'], 'ab'), 'OK [a]');
  });

  it('answers TEMP or the onerror reply, and fails a transformation, when a lookup runs past time-limit', async () => {
    // Every search from a match reads to the end of the key for the `.*c` branch: quadratic with `g`, about
    // a minute for this key without the limit.
    const key = 'a'.repeat(20_000);
    // The replies below say the limit stopped each search; without it they would be answers, a minute later.
    const reply = await ask(['time-limit=20ms', 's/(a.*c|a)/x/g'], key);
    assert.match(reply, /^TEMP sed: transformation failed: expression 's\/\(a\.\*c\|a\)\/x\/g' ran past the time limit/);
    assert.equal(await ask(['time-limit=20ms', 'onerror-reply=TEMP slow ${map}', 's/(a.*c|a)/x/g'], key), 'TEMP slow map');
    const db = await open(['s/(a.*c|a)/x/g'], ['time-limit=20ms']);
    // A transform throws; the database handle logs it and the rule changes nothing.
    assert.throws(() => sed.transform!(db, key, conn), BackendError);
    // The default limit leaves room for ordinary keys with many matches.
    assert.equal(await ask(['s/a/b/g'], 'a'.repeat(1000)), 'OK ' + 'b'.repeat(1000));
  });

  it('rejects a time-limit below 1ms', async () => {
    await rejects(['time-limit=0', 's/a/b/'], /time-limit must be at least 1ms/);
    await rejects(['time-limit=soon', 's/a/b/'], /time-limit/);
  });
});

describe('sed module: transform', () => {
  it('returns the rewritten value, or null when nothing changed', async () => {
    const db = await open(['s/<(.*)>/\\1/']);
    assert.equal(await sed.transform!(db, '<a@b.c>', conn), 'a@b.c');
    assert.equal(await sed.transform!(db, 'a@b.c', conn), null);
  });

  it('returns null when a sequence ends where it started', async () => {
    const db = await open(['s/a/b/', 's/b/a/']);
    assert.equal(await sed.transform!(db, 'a', conn), null);
  });

  it('offers both capabilities', () => {
    assert.deepEqual([...sed.capabilities].sort(), ['query', 'transform']);
  });
});
