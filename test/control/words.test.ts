import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinWords, quoteWord, splitWords } from '../../src/control/words.js';

describe('control word splitting', () => {
  it('splits on runs of spaces, tabs and line ends', () => {
    assert.deepEqual(splitWords('  db  mem\tbind k v\r\n'), ['db', 'mem', 'bind', 'k', 'v']);
    assert.deepEqual(splitWords(''), []);
    assert.deepEqual(splitWords('   '), []);
  });

  it('keeps quoted spaces, empty words, and joins quoted parts to their word', () => {
    assert.deepEqual(splitWords('bind "a key" "two  spaces"'), ['bind', 'a key', 'two  spaces']);
    assert.deepEqual(splitWords('x "" y'), ['x', '', 'y']);
    assert.deepEqual(splitWords('name="a b"c'), ['name=a bc']);
  });

  it('unescapes only \\" and \\\\ inside quotes; elsewhere a backslash is literal', () => {
    assert.deepEqual(splitWords('"say \\"hi\\"" "c:\\\\dir" "\\d+"'), ['say "hi"', 'c:\\dir', '\\d+']);
    assert.deepEqual(splitWords('s/\\./_/g'), ['s/\\./_/g']);
    // Outside quotes a backslash does not protect a quote: the quote opens a quoted part.
    assert.deepEqual(splitWords('a\\"b c"'), ['a\\b c']);
  });

  it('reports an unterminated quote with its column', () => {
    assert.throws(() => splitWords('bind k "open'), /unterminated quote starting at column 8/);
  });

  it('quotes exactly the words that need it, and round-trips', () => {
    assert.equal(quoteWord('plain'), 'plain');
    assert.equal(quoteWord('back\\slash'), 'back\\slash');
    assert.equal(quoteWord(''), '""');
    assert.equal(quoteWord('a b'), '"a b"');
    assert.equal(quoteWord('say "x"'), '"say \\"x\\""');
    const words = ['db', 'mem', 'bind', 'k e y', '', 'v"al\\ue', 'tab\there', 'x\\"y'];
    assert.deepEqual(splitWords(joinWords(words)), words);
  });
});
