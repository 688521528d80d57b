/**
 * The compact table answers what a `Map` of the same strings answers: for any keys and values (lone
 * surrogates, the escapes of non-UTF-8 bytes, astral characters, empty strings, entries bigger than a
 * segment), the last value set for a key is found, and no other key finds anything.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CompactTableBuilder, type CompactTable } from '../../src/maps/compact-table.js';
import { bytesToText } from '../../src/modules/api.js';

/** UTF-16 units biased towards the edges of each encoding form: ASCII, 0x7f/0x80, 0x7ff/0x800, surrogates. */
const unit = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.constantFrom(0, 0x7f, 0x80, 0xe9, 0xff, 0x100, 0x7ff, 0x800, 0xfffd, 0xffff),
  fc.integer({ min: 0xd800, max: 0xdfff }),
  fc.integer({ min: 0xdc80, max: 0xdcff }),
  fc.integer({ min: 0x80, max: 0xffff }),
);
const text = fc.array(unit, { maxLength: 12 }).map((a) => String.fromCharCode(...a));
/** Astral characters as proper pairs, so pairs and lone halves both occur. */
const withPairs = fc.tuple(text, fc.constantFrom('', '😀', '\u{10ffff}', '\u{10000}')).map(([a, b]) => a + b + a);
const anyText = fc.oneof(text, withPairs);

function build(entries: ReadonlyArray<readonly [string, string]>): { table: CompactTable; ref: Map<string, string>; dups: number } {
  const builder = new CompactTableBuilder();
  const ref = new Map<string, string>();
  let dups = 0;
  for (const [k, v] of entries) {
    const replaced = builder.set(k, v);
    assert.equal(replaced, ref.has(k), `set(${JSON.stringify(k)}) says whether it replaced`);
    if (replaced) dups++;
    ref.set(k, v);
  }
  return { table: builder.finish(), ref, dups };
}

describe('CompactTable', () => {
  it('finds what a Map finds, for any strings (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyText, anyText), { maxLength: 60 }), fc.array(anyText, { maxLength: 20 }), (entries, probes) => {
        const { table, ref } = build(entries);
        assert.equal(table.size, ref.size);
        for (const [k, v] of ref) assert.equal(table.get(k), v, `key ${JSON.stringify(k)}`);
        for (const p of probes) assert.equal(table.get(p), ref.get(p), `probe ${JSON.stringify(p)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the last value of a key set twice, and counts keys once (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'é', '\udce9', ''), anyText), { maxLength: 40 }), (entries) => {
        const { table, ref, dups } = build(entries);
        assert.equal(table.size, ref.size);
        assert.equal(dups, entries.length - ref.size);
        for (const [k, v] of ref) assert.equal(table.get(k), v);
      }),
    );
  });

  it('tells apart keys that are different bytes but could be confused as text', () => {
    const keys = [
      'café', // UTF-8 c3 a9
      bytesToText(Buffer.from([0x63, 0x61, 0x66, 0xe9])), // Latin-1 é: the escape U+DCE9
      'cafe\u0301', // e and a combining accent
      bytesToText(Buffer.from([0x63, 0x61, 0x66, 0xc3])), // a lone lead byte
      '\udcc3\udca9', // the escapes of c3 a9, whose bytes are the UTF-8 of é
      'é',
      '\ud83d', // a lone high surrogate
      '\ud83d\ude00', // and with its pair
      '\ude00\ud83d', // the halves the other way round
      '',
    ];
    const { table } = build(keys.map((k, i) => [k, `v${i}`] as const));
    assert.equal(table.size, keys.length);
    keys.forEach((k, i) => assert.equal(table.get(k), `v${i}`, `key ${JSON.stringify(k)}`));
    assert.equal(table.get('cafe'), undefined);
    assert.equal(table.get('caf'), undefined);
    assert.equal(table.get('CAFÉ'), undefined);
  });

  it('gives values back exactly: empty, escaped bytes, astral, Latin-1 and non-Latin-1 text', () => {
    const values = ['', 'OK plain', 'OK caf\udce9', 'OK é', 'OK Straße ΟΔΟΣ', 'OK 😀', '\ud800', 'x\udfff'];
    const { table } = build(values.map((v, i) => [`k${i}`, v] as const));
    values.forEach((v, i) => assert.equal(table.get(`k${i}`), v));
  });

  it('holds entries bigger than a segment, and many across segments, and finds them all', () => {
    const big = 'v'.repeat((16 << 20) + 5);
    const bigKey = 'k'.repeat(70_000) + 'é';
    const builder = new CompactTableBuilder();
    const mid = 'm'.repeat(1 << 20);
    for (let i = 0; i < 20; i++) builder.set(`mid${i}`, mid + i);
    builder.set('big', big);
    builder.set(bigKey, 'long key');
    for (let i = 0; i < 20; i++) builder.set(`after${i}`, `small ${i}`);
    const table = builder.finish();
    assert.equal(table.size, 42);
    assert.equal(table.get('big'), big);
    assert.equal(table.get(bigKey), 'long key');
    assert.equal(table.get(bigKey.slice(0, -1)), undefined);
    for (let i = 0; i < 20; i++) assert.equal(table.get(`mid${i}`), mid + i);
    for (let i = 0; i < 20; i++) assert.equal(table.get(`after${i}`), `small ${i}`);
    assert.ok(table.byteLength >= big.length + 20 * mid.length);
  });

  it('finds every key of a table whose index parts doubled many times, and no key it was not given', () => {
    const builder = new CompactTableBuilder();
    const n = 150_000;
    for (let i = 0; i < n; i++) builder.set(`user${i}@example${i % 97}.org`, `OK dest-${i}`);
    for (let i = 0; i < n; i += 3) builder.set(`user${i}@example${i % 97}.org`, `OK again-${i}`);
    const table = builder.finish();
    assert.equal(table.size, n);
    for (let i = 0; i < n; i++) assert.equal(table.get(`user${i}@example${i % 97}.org`), i % 3 === 0 ? `OK again-${i}` : `OK dest-${i}`);
    for (let i = 0; i < 1000; i++) assert.equal(table.get(`user${i}@example${(i % 97) + 1}.org`), undefined);
  });

  it('starts a builder afresh after finish, leaving the finished table as it was', () => {
    const builder = new CompactTableBuilder();
    builder.set('a', '1');
    const first = builder.finish();
    builder.set('b', '2');
    const second = builder.finish();
    assert.deepEqual([first.get('a'), first.get('b'), first.size], ['1', undefined, 1]);
    assert.deepEqual([second.get('a'), second.get('b'), second.size], [undefined, '2', 1]);
  });
});
