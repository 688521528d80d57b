import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob } from '../../src/dispatch/glob.js';
import { PatternError } from '../../src/errors.js';

function check(pattern: string, yes: string[], no: string[]): void {
  const test = compileGlob(pattern);
  for (const s of yes) assert.equal(test(s), true, `${pattern} should match ${JSON.stringify(s)}`);
  for (const s of no) assert.equal(test(s), false, `${pattern} should not match ${JSON.stringify(s)}`);
}

describe('compileGlob (fnmatch with flags 0)', () => {
  it('compares a pattern without wildcards exactly and case-sensitively', () => {
    check('example.com', ['example.com'], ['Example.com', 'example.co', 'xexample.com', '']);
    check('', [''], ['a']);
  });

  it('handles the prefix, suffix, infix and prefix-suffix shapes', () => {
    check('user@*', ['user@', 'user@example.com'], ['User@x', 'xuser@y']);
    check('*@example.com', ['@example.com', 'a@example.com'], ['a@example.com.', 'a@example.org']);
    check('*spam*', ['spam', 'nospamhere'], ['spa', 'SPAM']);
    check('ab*ba', ['abba', 'ab-x-ba'], ['aba', 'ab', 'ba', 'abb']);
    check('*', ['', 'anything/at/all', '.hidden'], []);
    check('**', ['', 'x'], []);
  });

  it('lets * and ? match "/" and a leading dot, since flags are 0', () => {
    check('/var/*', ['/var/a/b/c'], ['/usr/a']);
    check('?x', ['/x', '.x'], ['x', 'abx']);
  });

  it('matches ? as exactly one character', () => {
    check('a?c', ['abc', 'a c', 'a\nc'], ['ac', 'abbc']);
    check('a?c', ['a😀c'], ['a😀😀c']);
    check('<*>', ['<a@b>', '<>'], ['<a@b', 'a@b>']);
  });

  it('supports bracket sets, ranges and both negation forms', () => {
    check('[abc]x', ['ax', 'cx'], ['dx', 'x']);
    check('[a-c0-2]', ['b', '1'], ['d', '3', 'B']);
    check('[!a-c]', ['d', 'A'], ['a', 'c', '']);
    check('[^a-c]', ['d'], ['b']);
    check('[]]', [']'], ['a']);
    check('[!]]', ['a'], [']']);
    check('[a-]', ['a', '-'], ['b']);
    check('[-a]', ['-', 'a'], ['b']);
  });

  it('supports POSIX character classes inside brackets', () => {
    check('[[:digit:]][[:alpha:]]', ['1a', '9Z'], ['a1', '11']);
    check('[[:upper:][:digit:]]*', ['A', '3x'], ['a']);
    check('[![:space:]]', ['x'], [' ', '\t']);
    check('[[:punct:]]', ['.', '@', '~', '`', '['], ['a', '0', ' ']);
  });

  it('reads a backslash as quoting the next character, also inside brackets', () => {
    check('\\*', ['*'], ['a', '']);
    check('a\\?', ['a?'], ['ab']);
    check('\\[x]', ['[x]'], ['x']);
    check('[\\]]', [']'], ['\\']);
    check('a\\\\b', ['a\\b'], ['ab']);
  });

  it('escapes RegExp syntax in literal parts', () => {
    check('a.b?(c)+{1}|$^', ['a.bX(c)+{1}|$^'], ['axbX(c)+{1}|$^', 'a.bX(c)(c)+{1}|$^']);
  });

  it('reads an unterminated [ as an ordinary character, as fnmatch does', () => {
    check('[abc', ['[abc'], ['a']);
    check('x[*', ['x[', 'x[yz'], ['x']);
  });

  it('rejects patterns fnmatch could never match, with a reason', () => {
    assert.throws(() => compileGlob('abc\\'), (e: unknown) => e instanceof PatternError && /lone backslash/.test(e.message));
    assert.throws(() => compileGlob('[z-a]'), /invalid range z-a/);
    assert.throws(() => compileGlob('[[:alfa:]]'), /unknown character class \[:alfa:\]/);
    assert.throws(() => compileGlob('[[:alpha:]-z]'), /character class \[:alpha:\] cannot start a range/);
    assert.throws(() => compileGlob('[[.ch.]]'), /single characters/);
  });

  it('matches many-star patterns in linear time', () => {
    // A backtracking engine takes time to the power of the number of stars on such a key.
    const t0 = performance.now();
    check('*a*a*a*a*a*a*a*a*b', ['a'.repeat(20) + 'b'], ['a'.repeat(50_000), 'a'.repeat(7) + 'b']);
    check('?*[[:digit:]]*?*[[:digit:]]*x', ['a1b2x'], ['1'.repeat(50_000)]);
    assert.ok(performance.now() - t0 < 10_000, `took ${performance.now() - t0} ms`);
  });

  it('matches a newline and a character outside the BMP as one character', () => {
    check('a?b*', ['a\nb', 'a😀bc'], ['a😀😀b']);
    check('*[😀-😂]?', ['x😁y'], ['x😃y']);
  });

  it('accepts [.c.] and [=c=] for a single character', () => {
    check('[[.-.]a]', ['-', 'a'], ['b']);
    check('[[=e=]]', ['e'], ['é']);
  });
});
