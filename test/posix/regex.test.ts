import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePosixRegex, convertPosixRegex, PatternError, type PosixRegexOptions } from '../../src/posix/index.js';

// As the sed module calls it: an s-expression's delimiter, and \n and \t as newline and tab.
const ERE = { extended: true, delimiter: '/', controlEscapes: true };
const BRE = { extended: false, delimiter: '/', controlEscapes: true };

/** The first match of a POSIX pattern in `input`, on the linear-time engine, or null. */
function match(pattern: string, input: string, opts: PosixRegexOptions = ERE, icase = false): string | null {
  const m = compilePosixRegex(pattern, { ...opts, icase }).regex.scan(input);
  return m.find(0) ? input.slice(m.start(), m.end()) : null;
}

/** Refused when converted or, for the engine's own limits, when compiled. */
function bad(pattern: string, message: RegExp, opts: PosixRegexOptions = ERE): void {
  assert.throws(() => compilePosixRegex(pattern, opts), (err: unknown) => {
    assert.ok(err instanceof PatternError);
    assert.match(err.message, message);
    return true;
  });
}

describe('POSIX regex on the linear-time engine: ERE', () => {
  it('keeps ERE operators', () => {
    assert.equal(match('a+b?c*', 'xaaacc'), 'aaacc');
    assert.equal(match('(ab|cd){2}', 'xabcdx'), 'abcd');
    assert.equal(match('a{2,}', 'aaaa'), 'aaaa');
    assert.equal(match('a{,2}', 'aaa'), 'aa');
    assert.equal(match('^a.c$', 'abc'), 'abc');
    assert.equal(match('^a.c$', 'xabc'), null);
  });

  it('counts groups as POSIX does', () => {
    assert.equal(convertPosixRegex('(a)((b)c)', ERE).groups, 3);
    assert.equal(convertPosixRegex('a', ERE).groups, 0);
  });

  it('reads stacked quantifiers as POSIX does, never as lazy ones', () => {
    assert.equal(match('a+?', 'aaa'), 'aaa');
    assert.equal(match('a**', 'aaa'), 'aaa');
    assert.equal(match('a{1}{2}', 'aaa'), 'aa');
  });

  it('escapes characters that RE2 treats as special', () => {
    assert.equal(match('a]b', 'a]b'), 'a]b');
    assert.equal(match('a}b', 'a}b'), 'a}b');
    assert.equal(match('a\\{b', 'a{b'), 'a{b');
    assert.equal(match('a\\.b', 'axb'), null);
  });

  it('supports the GNU escapes, with their C-locale meaning', () => {
    assert.equal(match('\\w+', '  foo_1 '), 'foo_1');
    assert.equal(match('\\W+', 'ab-+cd'), '-+');
    assert.equal(match('\\s+', 'a \t\v\f\r\nb'), ' \t\v\f\r\n');
    assert.equal(match('\\S+', ' \u00e9x '), '\u00e9x');
    assert.equal(match('\\bfoo\\b', 'a foo b'), 'foo');
    assert.equal(match('\\Bo\\B', 'foo'), 'o');
    assert.equal(match('\\Bf', 'a foo'), null);
    assert.equal(match('\\`a', 'aa'), 'a');
    assert.equal(match("a\\'", 'aab'), null);
  });

  it('reads \\< and \\> as the start and end of a word', () => {
    assert.equal(match('\\<b', 'ab b'), 'b');
    assert.equal(match('\\<b.', 'abx bc'), 'bc');
    assert.equal(match('o\\>', 'oo foo'), 'o');
    assert.equal(match('o\\>', 'oox'), null);
    assert.equal(match('o\\> ', 'oo foo'), 'o ');
    assert.equal(match('\\<', '  '), null);
    assert.equal(match('x\\>', 'x'), 'x');
    assert.equal(match('^\\>', 'x'), null);
  });

  it('reads an escaped delimiter as the delimiter itself', () => {
    assert.equal(match('a\\|b', 'a|b', { extended: true, delimiter: '|' }), 'a|b');
    assert.equal(match('a\\/b', 'a/b'), 'a/b');
  });
});

describe('POSIX regex on the linear-time engine: BRE', () => {
  it('treats + ? { } ( ) | as literals', () => {
    assert.equal(match('a+b', 'a+b', BRE), 'a+b');
    assert.equal(match('(a|b){2}', '(a|b){2}', BRE), '(a|b){2}');
  });

  it('uses \\( \\) \\{ \\} \\+ \\? \\| as operators', () => {
    assert.equal(match('\\(ab\\)\\{2\\}', 'xababx', BRE), 'abab');
    assert.equal(match('a\\+', 'aaa', BRE), 'aaa');
    assert.equal(match('ab\\?c', 'ac', BRE), 'ac');
    assert.equal(match('\\(a\\|b\\)c', 'bc', BRE), 'bc');
    assert.equal(convertPosixRegex('\\(a\\)\\(b\\)', BRE).groups, 2);
  });

  it('treats a leading * as a literal', () => {
    assert.equal(match('*a', 'x*a', BRE), '*a');
    assert.equal(match('^*a', '*a', BRE), '*a');
    assert.equal(match('\\(*a\\)', '*a', BRE), '*a');
  });

  it('anchors ^ and $ only at the ends of the pattern or a group', () => {
    assert.equal(match('a^b$c', 'a^b$c', BRE), 'a^b$c');
    assert.equal(match('^ab$', 'ab', BRE), 'ab');
    assert.equal(match('\\(^a\\)', 'ba', BRE), null);
    assert.equal(match('x\\(a$\\)', 'xa', BRE), 'xa');
  });
});

describe('POSIX regex on the linear-time engine: bracket expressions', () => {
  it('expands character classes', () => {
    assert.equal(match('[[:alpha:]]+', '12abC3'), 'abC');
    assert.equal(match('[[:digit:][:space:]]+', 'a1 2\tb'), '1 2\t');
    assert.equal(match('[[:upper:]]+', 'abCDe'), 'CD');
    assert.equal(match('[[:punct:]]+', 'a.,;!b'), '.,;!');
    assert.equal(match('[[:xdigit:]]+', 'xx0fAgg'), '0fA');
    assert.equal(match('[^[:alnum:]]', 'ab-c'), '-');
  });

  it('reads ] first and - last as members', () => {
    assert.equal(match('[]a]+', 'x]a]x'), ']a]');
    assert.equal(match('[^]a]', ']ab'), 'b');
    assert.equal(match('[a-]+', 'x-a-x'), '-a-');
  });

  it('reads a backslash inside brackets as a literal character', () => {
    assert.equal(match('[\\n]+', 'a\\nb'), '\\n');
  });

  it('supports ranges, collating elements and equivalence classes', () => {
    assert.equal(match('[a-c]+', 'xabcd'), 'abc');
    assert.equal(match('[[.-.]x]+', 'a-x-'), '-x-');
    assert.equal(match('[[=e=]]', 'abe'), 'e');
  });

  it('keeps a range case-insensitive with the i flag', () => {
    assert.equal(match('[A-C]+', 'abc', ERE, true), 'abc');
    assert.equal(match('[A-C]+', 'abc', ERE, false), null);
  });

  it('reads [:cntrl:] and [:space:] with their C-locale members', () => {
    assert.equal(match('[[:cntrl:]]+', 'a\u0000\u001f\u007fb'), '\u0000\u001f\u007f');
    assert.equal(match('[[:space:]]+', 'a\t\n\v\f\r b'), '\t\n\v\f\r ');
    assert.equal(match('[[:print:]]+', '\u0001a b~\u007f'), 'a b~');
  });

  it('rejects malformed brackets', () => {
    bad('[abc', /unterminated bracket expression/);
    bad('[[:alpha:]', /unterminated bracket expression/);
    bad('[[:nope:]]', /unknown character class \[:nope:\]/);
    bad('[[.ab.]]', /only single characters/);
    bad('[c-a]', /invalid range c-a/);
    bad('[[:digit:]-z]', /cannot start a range/);
  });
});

describe('POSIX regex on the linear-time engine: errors', () => {
  it('rejects unbalanced groups', () => {
    bad('(a', /unmatched \(/);
    bad('a)', /unmatched \)/);
    bad('\\(a', /unmatched \\\(/, BRE);
    bad('a\\)', /unmatched \\\)/, BRE);
  });

  it('rejects quantifiers with nothing to repeat', () => {
    bad('*a', /nothing to repeat/);
    bad('a|+b', /nothing to repeat/);
    bad('^*', /nothing to repeat/);
    bad('\\{2\\}', /nothing to repeat/, BRE);
  });

  it('rejects bad intervals', () => {
    bad('a{', /invalid interval/);
    bad('a{x}', /invalid interval/);
    bad('a{3,2}', /2 is less than 3/);
    bad('a{99999}', /too large/);
    bad('a{1001}', /too large: no count may be larger than 1000 \(the linear-time engine's limit\)/);
    bad('a\\{1', /invalid interval/, BRE);
  });

  it('rejects back references, which no linear-time engine can run, with a hint', () => {
    bad('(a)\\1', /back reference \\1 is not supported: .*linear-time engine.*e\.g\. \(a\|b\)\\1 as \(aa\|bb\)/);
    bad('(a\\1)', /back reference \\1 is not supported/);
    bad('\\(a\\)\\9', /back reference \\9 is not supported/, BRE);
  });

  it('refuses what the engine cannot compile, with the pattern as written and a hint', () => {
    assert.equal(match('a{1000}', 'a'.repeat(1000)), 'a'.repeat(1000));
    assert.throws(
      () => compilePosixRegex('(a{100}){100}', ERE, 's/(a{100}){100}/x/'),
      (err: unknown) =>
        err instanceof PatternError &&
        /^cannot compile pattern "s\/\(a\{100\}\)\{100\}\/x\/": invalid repeat count.*counts up to 1000/.test(err.message),
    );
  });

  it('rejects unsupported escapes', () => {
    bad('\\d+', /unsupported escape \\d .*\[\[:digit:\]\]/);
  });
});

describe('POSIX regex on the linear-time engine: options and code points', () => {
  it('reads \\n and \\t as newline and tab only with controlEscapes', () => {
    assert.equal(match('a\\tb\\n', 'xa\tb\n'), 'a\tb\n');
    bad('a\\nb', /unsupported escape \\n \(not a POSIX regexp escape\)$/, { extended: true });
  });

  it('reads an escaped delimiter literally only when there is one', () => {
    assert.equal(match('a\\|b', 'a|b', { extended: false, delimiter: '|' }), 'a|b');
    assert.equal(match('a\\|b', 'b', { extended: false }), 'b');
  });

  it('converts an empty expression to an empty one (the sed module rejects it itself)', () => {
    assert.deepEqual(convertPosixRegex('', { extended: true }), { source: '', groups: 0, lookbehind: false });
    assert.equal(convertPosixRegex('\\<a', { extended: true }).lookbehind, true);
  });

  it('reads a character outside the BMP as one character', () => {
    assert.equal(match('^x😀+$', 'x😀😀'), 'x😀😀');
    assert.equal(match('^.$', '😀'), '😀');
    assert.equal(match('[😀-😂]', 'a😁'), '😁');
  });

  it('rejects an unmatched \\} in BRE and an interval without counts', () => {
    bad('a\\}', /unmatched \\\}/, BRE);
    bad('a{,}', /invalid interval \{,\}/);
  });
});
