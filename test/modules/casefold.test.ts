import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldCase } from '../../src/modules/api.js';
import { SIMPLE_RUNS } from '../../src/modules/casefold-data.js';

describe('foldCase (fold-case)', () => {
  it('folds ASCII to lower case', () => {
    assert.equal(foldCase('Postmaster@Example.ORG'), 'postmaster@example.org');
  });

  it('folds as Postfix does for SMTPUTF8 keys, not as toLowerCase does', () => {
    assert.equal(foldCase('Straße@example.de'), 'strasse@example.de');
    assert.equal(foldCase('STRASSE@EXAMPLE.DE'), 'strasse@example.de');
    assert.equal(foldCase('ẞ'), 'ss');
    // Final sigma and capital sigma both fold to σ: toLowerCase would give ς at the end of a word.
    assert.equal(foldCase('ΟΔΟΣ'), 'οδοσ');
    assert.equal(foldCase('οδος'), 'οδοσ');
    assert.equal(foldCase('ﬁle'), 'file');
    assert.equal(foldCase('µ'), 'μ');
    assert.equal(foldCase('ſ'), 's');
    // Cherokee folds to the capital letters (the older ones), unlike lower-casing.
    assert.equal(foldCase('ꭰ'), 'Ꭰ');
    assert.equal(foldCase('Ꭰ'), 'Ꭰ');
  });

  it('uses the default (non-Turkic) mappings', () => {
    assert.equal(foldCase('İ'), 'i\u0307');
    assert.equal(foldCase('ı'), 'ı');
    assert.equal(foldCase('I'), 'i');
  });

  it('leaves bytes that are not UTF-8 as they are', () => {
    assert.equal(foldCase('CAF\udce9'), 'caf\udce9');
    assert.equal(foldCase('\udcc3\udc9f'), '\udcc3\udc9f');
  });

  it('is idempotent over the Basic Multilingual Plane and beyond', () => {
    for (let cp = 0; cp < 0x20000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const once = foldCase(String.fromCodePoint(cp));
      assert.equal(foldCase(once), once, `U+${cp.toString(16)}`);
    }
  });

  it('agrees with the JavaScript engine’s own simple case folding (RegExp iu) for every simple mapping', () => {
    for (const run of SIMPLE_RUNS.split(';')) {
      const [start, count, step] = run.split(',').map((n) => parseInt(n, 36)) as [number, number, number];
      for (let i = 0; i < count; i++) {
        const cp = start + i * step;
        const re = new RegExp(`^\\u{${cp.toString(16)}}$`, 'iu');
        assert.ok(re.test(foldCase(String.fromCodePoint(cp))), `U+${cp.toString(16)}`);
      }
    }
  });
});
