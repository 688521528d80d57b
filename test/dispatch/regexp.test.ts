import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatternError } from '../../src/errors.js';
import { compileRegexp, splitRegexp } from '../../src/dispatch/regexp.js';

function check(text: string, yes: string[], no: string[]): void {
  const re = compileRegexp(text);
  for (const s of yes) assert.equal(re.test(s), true, `${text} should match ${JSON.stringify(s)}`);
  for (const s of no) assert.equal(re.test(s), false, `${text} should not match ${JSON.stringify(s)}`);
}

describe('splitRegexp', () => {
  it('takes any punctuation as delimiter and the last occurrence as the closing one', () => {
    assert.deepEqual(splitRegexp('/a/'), { body: 'a', icase: false, basic: false });
    assert.deepEqual(splitRegexp('|a/b|i'), { body: 'a/b', icase: true, basic: false });
    assert.deepEqual(splitRegexp('/a/b/x'), { body: 'a/b', icase: false, basic: false });
    assert.deepEqual(splitRegexp('#x#bi'), { body: 'x', icase: true, basic: true });
    assert.deepEqual(splitRegexp('//'), { body: '', icase: false, basic: false });
  });

  it('rejects a missing delimiter, an unclosed regexp and unknown or contradictory flags', () => {
    assert.throws(() => splitRegexp(''), /empty regexp/);
    assert.throws(() => splitRegexp('abc'), /must start with a punctuation delimiter/);
    assert.throws(() => splitRegexp(' a '), /must start with a punctuation delimiter/);
    assert.throws(() => splitRegexp('/abc'), /no closing "\/"/);
    assert.throws(() => splitRegexp('/abc/g'), (e: unknown) => e instanceof PatternError && /unknown regexp flag "g"/.test(e.message));
    assert.throws(() => splitRegexp('/abc/bx'), /contradict/);
  });
});

describe('compileRegexp: extended (default and x)', () => {
  it('is an unanchored search unless anchored', () => {
    check('/b/', ['abc', 'b'], ['ac']);
    check('/^RE(x|y)$/i', ['rex', 'REY', 'rEx'], ['rexx', 'xrex', 're']);
    check('/^RE(x|y)$/', ['REx'], ['rex']);
    check('/^a+b?c*$/x', ['a', 'aab', 'abccc'], ['b', 'abb']);
  });

  it('works with other delimiters', () => {
    check('|^/var/|', ['/var/x'], ['/usr/x']);
    check('#^user@(example|test)\\.com$#i', ['User@Example.com', 'user@test.com'], ['user@examplexcom']);
    check(',a,b,', ['a,b'], ['ab']);
  });

  it('converts POSIX bracket classes', () => {
    check('/^[[:alpha:]]+[[:digit:]]$/', ['abc1'], ['abc', '1abc1']);
    check('/^[[:upper:]][[:lower:]]+$/', ['Hello'], ['hello', 'HELLO']);
    check('/[[:space:]]/', ['a b', 'a\tb'], ['ab']);
    check('/^[[:alnum:]]+$/', ['ab12'], ['ab-12']);
    check('/^[[:punct:]]+$/', ['!-./@[`{~'], ['a!']);
    check('/^[[:xdigit:]]+$/', ['DeadBeef09'], ['xyz']);
    check('/^[^[:digit:]]+$/', ['abc'], ['a1']);
    check('/^[[:lower:]]+$/i', ['ABC'], ['A1']);
  });

  it('reads a backslash inside brackets literally, as POSIX does', () => {
    check('/^[\\n]+$/', ['\\n\\'], ['\n']);
  });

  it('supports intervals, including {,n}', () => {
    check('/^a{2}$/', ['aa'], ['a', 'aaa']);
    check('/^a{2,}$/', ['aa', 'aaaa'], ['a']);
    check('/^a{1,2}$/', ['a', 'aa'], ['aaa']);
    check('/^a{,2}$/', ['', 'aa'], ['aaa']);
  });

  it('treats a repeat of a repeat as POSIX does, not as a lazy quantifier', () => {
    check('/^a+?$/', ['', 'aaa'], ['b']);
    check('/^a**$/', ['', 'aa'], ['b']);
    check('/^(ab)*+$/', ['', 'abab'], ['aba']);
  });

  it('makes . match a newline, since POSIX has no line mode here', () => {
    check('/^a.b$/', ['a\nb', 'axb'], ['ab']);
  });

  it('supports GNU word escapes and literal escapes', () => {
    check('/\\<foo\\>/', ['a foo b', 'foo'], ['afoo', 'foob']);
    check('/\\bx\\B/', ['xy'], ['x y', 'x']);
    check('/^\\w+\\s\\S$/', ['ab c'], ['ab  c']);
    check('/^a\\.b\\*\\+\\?\\(\\)\\{\\}\\|\\[\\]\\^\\$\\/$/', ['a.b*+?(){}|[]^$/'], ['axb*+?(){}|[]^$/']);
    check('/^\\`a\\\'$/', ['a'], ['ba']);
  });

  it('refuses back references, which the linear-time engine cannot run, with a hint', () => {
    assert.throws(
      () => compileRegexp('/^(a|b)\\1$/'),
      (e: unknown) => e instanceof PatternError && /back reference \\1 is not supported: .*spell the alternatives out/.test(e.message),
    );
    assert.throws(() => compileRegexp('/^\\(a\\)\\1$/b'), /back reference \\1 is not supported/);
  });

  it('refuses what the engine cannot compile, naming the regexp as written', () => {
    assert.throws(
      () => compileRegexp('/(a{100}){100}/i'),
      (e: unknown) => e instanceof PatternError && e.message.startsWith('cannot compile pattern "/(a{100}){100}/i": invalid repeat count'),
    );
  });

  it('answers a pathological pattern in linear time', () => {
    // Each of these took V8's backtracking engine seconds, or forever, on such a key.
    const t0 = performance.now();
    check('/^(a+)+$/', ['a'.repeat(30)], ['a'.repeat(29) + '!', 'a'.repeat(100_000) + '!']);
    check('/(a|aa)+$/', ['a'.repeat(60)], []);
    check('/^(a|aa)+$/', [], ['a'.repeat(60) + 'b', 'a'.repeat(100_000) + 'b']);
    check('/^(.*a){12}$/', [], ['a'.repeat(5_000) + 'b']);
    // Generous: a backtracking engine needs hours here, the linear one milliseconds.
    assert.ok(performance.now() - t0 < 10_000, `took ${performance.now() - t0} ms`);
  });

  it('matches by character, not by UTF-16 unit', () => {
    check('/^x😀+$/', ['x😀😀'], ['x😀\ud83d']);
    check('/^.$/', ['😀'], ['ab']);
  });

  it('escapes characters that are special in JS but literal in POSIX', () => {
    check('/^a}b]$/', ['a}b]'], ['ab']);
    check('/a/b/', ['xa/by'], ['ab']);
  });

  it('rejects malformed expressions with a reason', () => {
    assert.throws(() => compileRegexp('/(ab/'), /unmatched \(/);
    assert.throws(() => compileRegexp('/ab)/'), /unmatched \)/);
    assert.throws(() => compileRegexp('/[ab/'), /unmatched \[/);
    assert.throws(() => compileRegexp('/*a/'), /"\*" has nothing to repeat/);
    assert.throws(() => compileRegexp('/a|+b/'), /"\+" has nothing to repeat/);
    assert.throws(() => compileRegexp('/a{2,1}/'), /max is below min/);
    assert.throws(() => compileRegexp('/a{x}/'), /invalid interval/);
    assert.throws(() => compileRegexp('/a{1/'), /invalid interval/);
    assert.throws(() => compileRegexp('/a{99999}/'), /larger than 1000/);
    assert.throws(() => compileRegexp('/\\1(a)/'), /back reference \\1 is not supported/);
    assert.throws(() => compileRegexp('/\\d/'), /not a POSIX regexp escape/);
    assert.throws(() => compileRegexp('/a\\/'), (e: unknown) => e instanceof PatternError);
    assert.throws(() => compileRegexp('/[[:word:]]/'), /unknown character class/);
    assert.throws(() => compileRegexp('/[b-a]/'), /invalid range/);
    assert.throws(() => compileRegexp('/a{,}/'), /invalid interval/);
    assert.throws(() => compileRegexp('/a\\}/b'), /unmatched \\\}/);
  });
});

describe('compileRegexp: basic (b)', () => {
  it('uses \\( \\) \\{ \\} \\| \\+ \\? as operators', () => {
    check('/^\\(ab\\)\\{2\\}$/b', ['abab'], ['ab', 'ababab']);
    check('/^a\\|b$/b', ['a', 'b'], ['c']);
    check('/^a\\+b\\?$/b', ['a', 'aab'], ['b', 'abb']);
  });

  it('reads bare ( ) { } | + ? as ordinary characters', () => {
    check('/^(a|b){1}+?$/b', ['(a|b){1}+?'], ['a', 'b']);
  });

  it('reads * at the start of an expression or group as an ordinary character', () => {
    check('/^*a$/b', ['*a'], ['a']);
    check('/*a/b', ['*a'], ['a']);
    check('/^\\(*a\\)$/b', ['*a'], ['a']);
    check('/^ab*$/b', ['a', 'abbb'], ['b']);
  });

  it('treats ^ and $ as anchors only at the ends of an expression', () => {
    check('/a^b$c/b', ['a^b$c'], ['abc']);
    check('/^\\(^a$\\)$/b', ['a'], ['^a$']);
    check('/x$/b', ['ax'], ['xa']);
  });

  it('combines with i', () => {
    check('/^\\(re\\)x$/bi', ['REX'], ['RE']);
  });
});
