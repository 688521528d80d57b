import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import { decodeBytes, hasRawBytes, netstringOfBytes, textByteLength, textBytes } from '../../src/protocol/bytes.js';
import { RequestSplitter } from '../../src/protocol/request.js';

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

/** A small deterministic generator, so a failure names a reproducible case. */
function* randomBuffers(count: number, seed = 12345): Generator<Buffer> {
  let x = seed;
  const next = (): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x >> 8;
  };
  // Bytes that make up valid and broken UTF-8 more often than uniform bytes would.
  const pool = [0x41, 0x20, 0x80, 0xbf, 0xc2, 0xc3, 0xa9, 0xe0, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0x9f, 0xef, 0xbf, 0xbd, 0xf0, 0x90, 0xf4, 0x8f, 0xff, 0xfe];
  for (let i = 0; i < count; i++) {
    const n = next() % 9;
    const buf = Buffer.alloc(n);
    for (let j = 0; j < n; j++) buf[j] = next() % 3 === 0 ? next() % 256 : pool[next() % pool.length]!;
    yield buf;
  }
}

describe('lossless byte decoding', () => {
  it('decodes valid UTF-8 exactly as toString does', () => {
    for (const text of ['', 'user@example.org', 'Straße@bücher.example', 'ελληνικά', '😀 emoji', '\ufffd literal']) {
      const buf = Buffer.from(text, 'utf8');
      assert.equal(decodeBytes(buf), text);
      assert.equal(hasRawBytes(decodeBytes(buf)), false);
      assert.deepEqual(textBytes(text), buf);
    }
  });

  it('keeps Latin-1 bytes apart and gives them back', () => {
    const cafe = decodeBytes(b(0x63, 0x61, 0x66, 0xe9));
    assert.equal(cafe, 'caf\udce9');
    assert.notEqual(cafe, 'caf\ufffd');
    assert.notEqual(decodeBytes(b(0xfe)), decodeBytes(b(0xff)));
    assert.deepEqual(textBytes(cafe), b(0x63, 0x61, 0x66, 0xe9));
    assert.equal(hasRawBytes(cafe), true);
    assert.equal(textByteLength(cafe), 4);
  });

  it('escapes every byte of a truncated or forbidden sequence', () => {
    // A truncated 3-byte sequence before 'A', an encoded surrogate, an overlong '/', a code point past U+10FFFF.
    assert.equal(decodeBytes(b(0xe2, 0x82, 0x41)), '\udce2\udc82A');
    assert.equal(decodeBytes(b(0xed, 0xa0, 0x80)), '\udced\udca0\udc80');
    assert.equal(decodeBytes(b(0xc0, 0xaf)), '\udcc0\udcaf');
    assert.equal(decodeBytes(b(0xf4, 0x90, 0x80, 0x80)), '\udcf4\udc90\udc80\udc80');
    assert.equal(decodeBytes(b(0xc3, 0xa9, 0xe9)), 'é\udce9');
  });

  it('round-trips any bytes, and different bytes never decode alike', () => {
    const seen = new Map<string, string>();
    for (const buf of randomBuffers(50000)) {
      const text = decodeBytes(buf);
      assert.deepEqual(textBytes(text), buf, `round trip of ${buf.toString('hex')}`);
      assert.equal(textByteLength(text), buf.length);
      // Escapes appear exactly when Node's own validator rejects the bytes.
      assert.equal(hasRawBytes(text), !isUtf8(buf), `validity of ${buf.toString('hex')}`);
      const hex = buf.toString('hex');
      const other = seen.get(text);
      assert.ok(other === undefined || other === hex, `${hex} and ${other} decode alike`);
      seen.set(text, hex);
    }
  });

  it('decodes a slice of a larger buffer', () => {
    const buf = b(0x78, 0x61, 0xe9, 0x62, 0x79);
    assert.equal(decodeBytes(buf, 1, 4), 'a\udce9b');
  });

  it('writes lone surrogates that stand for no byte as U+FFFD, as Node does', () => {
    assert.deepEqual(textBytes('a\ud800b'), Buffer.from('a\ufffdb', 'utf8'));
    assert.deepEqual(textBytes('\udc41'), Buffer.from('\ufffd', 'utf8'));
    assert.deepEqual(textBytes('\ud83d\ude00\udcff'), Buffer.concat([Buffer.from('😀', 'utf8'), b(0xff)]));
  });

  it('frames a payload of raw bytes with its byte length', () => {
    assert.deepEqual(netstringOfBytes('OK caf\udce9'), Buffer.concat([Buffer.from('7:OK caf'), b(0xe9, 0x2c)]));
  });
});

describe('RequestSplitter with 8-bit bytes', () => {
  it('keeps 8-bit keys and map names byte-exact', () => {
    const s = new RequestSplitter();
    const req = Buffer.concat([Buffer.from('m'), b(0xfe), Buffer.from(' k'), b(0xff)]);
    assert.equal(s.split(req, 0, req.length), true);
    assert.equal(s.map, 'm\udcfe');
    assert.equal(s.key, 'k\udcff');
    const again = Buffer.concat([Buffer.from('m'), b(0xfe), Buffer.from(' k'), b(0xfe)]);
    assert.equal(s.split(again, 0, again.length), true);
    assert.equal(s.key, 'k\udcfe');
  });
});
