import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { formatTextMapLine, parseTextMap, TextMapSyntaxError, textMapLineProblem, type TextMapOptions } from '../../src/maps/textmap.js';
import { streamTextMap } from '../../src/maps/textmap-reader.js';

function parse(text: string, options: TextMapOptions = {}): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  parseTextMap(text, 'm.txt', (k, v, line) => out.push([k, v, line]), options);
  return out;
}

describe('text map parser', () => {
  it('splits key and value at the first blank and trims the value', () => {
    assert.deepEqual(parse('alice  alice@example.org \nbob\tb@x  y\n'), [
      ['alice', 'alice@example.org', 1],
      ['bob', 'b@x  y', 2],
    ]);
  });

  it('skips comments and blank lines, including indented ones', () => {
    assert.deepEqual(parse('# header\n\n   \na 1\n  # indented comment\n\t\nb 2\n'), [
      ['a', '1', 4],
      ['b', '2', 7],
    ]);
  });

  it('joins continuation lines with one space, across comments, keeping the key line number', () => {
    assert.deepEqual(parse('list one,\n   two,\n# note\n\tthree\nnext x\n'), [
      ['list', 'one, two, three', 1],
      ['next', 'x', 5],
    ]);
  });

  it('takes the value from continuation lines when the key line has none', () => {
    assert.deepEqual(parse('key\n  value here\n'), [['key', 'value here', 1]]);
  });

  it('accepts CRLF line ends, a byte-order mark and a last line without newline', () => {
    assert.deepEqual(parse('\ufeffa 1\r\nb 2'), [
      ['a', '1', 1],
      ['b', '2', 2],
    ]);
  });

  it('reports a key without a value with file:line, unless empty values are allowed', () => {
    assert.throws(
      () => parse('a 1\nlonely\nb 2\n'),
      (err: unknown) => err instanceof TextMapSyntaxError && err.message === "m.txt:2: key 'lonely' has no value" && err.line === 2,
    );
    assert.deepEqual(parse('lonely\nb 2\n', { allowEmptyValues: true }), [
      ['lonely', '', 1],
      ['b', '2', 2],
    ]);
  });

  it('rejects a continuation line before any key', () => {
    assert.throws(() => parse('# c\n  stray\n'), /^TextMapSyntaxError: m\.txt:2: continuation line/);
  });

  it('lowercases keys but not values with foldCase', () => {
    assert.deepEqual(parse('MiXeD Value\n', { foldCase: true }), [['mixed', 'Value', 1]]);
  });

  it('streams chunks split inside lines and inside UTF-8 characters the same way', async () => {
    const text = 'ключ значение\nb  two\n  more\nc 3';
    const input = new PassThrough();
    const bytes = Buffer.from(text);
    const got: Array<[string, string, number]> = [];
    const progress: number[] = [];
    const done = streamTextMap(input, 's', (k, v, l) => got.push([k, v, l]), { onProgress: (p) => progress.push(p.bytes) });
    for (let i = 0; i < bytes.length; i += 3) input.write(bytes.subarray(i, i + 3));
    input.end();
    assert.equal(await done, 4);
    assert.deepEqual(got, parse(text));
    assert.equal(progress.at(-1), bytes.length);
  });

  it('says which entries cannot be written back as text', () => {
    assert.equal(textMapLineProblem('k', 'v w'), null);
    assert.equal(textMapLineProblem('k', ''), null);
    assert.match(textMapLineProblem('a b', 'v') ?? '', /white space/);
    assert.match(textMapLineProblem('#k', 'v') ?? '', /comment/);
    assert.match(textMapLineProblem('k', 'v\nw') ?? '', /line break/);
    assert.match(textMapLineProblem('k', ' v') ?? '', /trims/);
    assert.match(textMapLineProblem('', 'v') ?? '', /empty/);
    assert.equal(formatTextMapLine('k', 'v w'), 'k\tv w');
    assert.equal(formatTextMapLine('k', ''), 'k');
  });
});
