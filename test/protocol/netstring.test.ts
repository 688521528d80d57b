import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NetstringDecoder, encodeNetstring } from '../../src/protocol/netstring.js';
import { RequestSplitter } from '../../src/protocol/request.js';
import { ProtocolError, RequestTooLargeError } from '../../src/errors.js';

function decodeAll(dec: NetstringDecoder, chunks: (string | Buffer)[]): string[] {
  const out: string[] = [];
  for (const c of chunks) dec.push(Buffer.isBuffer(c) ? c : Buffer.from(c), (b, s, e) => out.push(b.toString('utf8', s, e)));
  return out;
}

describe('NetstringDecoder', () => {
  it('decodes one frame', () => {
    assert.deepEqual(decodeAll(new NetstringDecoder(100), ['12:hello world!,']), ['hello world!']);
  });

  it('decodes several frames in one chunk (pipelining)', () => {
    assert.deepEqual(decodeAll(new NetstringDecoder(100), ['3:a b,5:c def,0:,']), ['a b', 'c def', '']);
  });

  it('reassembles a frame split at every byte', () => {
    const wire = '11:alias smith,7:x y z z,';
    const chunks = [...wire].map((ch) => ch);
    assert.deepEqual(decodeAll(new NetstringDecoder(100), chunks), ['alias smith', 'x y z z']);
  });

  it('reassembles frames split across chunk boundaries in the payload and before the comma', () => {
    const dec = new NetstringDecoder(100);
    assert.deepEqual(decodeAll(dec, ['5:ab', 'cde', ',2:x', 'y', ',']), ['abcde', 'xy']);
    assert.equal(dec.idle, true);
  });

  it('counts bytes, not characters, for UTF-8 payloads', () => {
    const payload = 'map ключ';
    const wire = encodeNetstring(payload);
    assert.equal(wire, `${Buffer.byteLength(payload)}:${payload},`);
    assert.deepEqual(decodeAll(new NetstringDecoder(100), [Buffer.from(wire)]), [payload]);
  });

  it('refuses an oversize length while reading its digits, before any payload', () => {
    const dec = new NetstringDecoder(100000);
    const frames: string[] = [];
    assert.throws(
      () => dec.push(Buffer.from('100001'), () => frames.push('x')),
      (e: unknown) => e instanceof RequestTooLargeError && /100000/.test(e.message),
    );
    assert.deepEqual(frames, []);
  });

  it('accepts a frame exactly at the limit', () => {
    const key = 'k'.repeat(96);
    assert.deepEqual(decodeAll(new NetstringDecoder(100), [encodeNetstring(`map ${key}`)]), [`map ${key}`]);
  });

  for (const [name, wire, re] of [
    ['a non-digit length', 'x3:abc,', /invalid character 'x'/],
    ['a missing length', ':abc,', /without a length/],
    ['a missing comma', '3:abcX', /expected ','/],
    ['a payload longer than announced', '2:abc,', /expected ','/],
    ['a space in the length', '3 :abc,', /invalid character 0x20/],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(() => decodeAll(new NetstringDecoder(100), [wire]), (e: unknown) => e instanceof ProtocolError && re.test(e.message));
    });
  }

  it('delivers the frames before a malformed one', () => {
    const dec = new NetstringDecoder(100);
    const out: string[] = [];
    assert.throws(() => dec.push(Buffer.from('3:a b,3:c d,zz'), (b, s, e) => out.push(b.toString('utf8', s, e))), ProtocolError);
    assert.deepEqual(out, ['a b', 'c d']);
  });

  it('rejects lengths with more than 20 digits even with a huge cap', () => {
    assert.throws(() => decodeAll(new NetstringDecoder(Number.MAX_SAFE_INTEGER), ['000000000000000000001:a,']), /too many digits/);
  });
});

describe('RequestSplitter', () => {
  const split = (s: string, sp = new RequestSplitter()) => {
    const b = Buffer.from(s);
    return sp.split(b, 0, b.length) ? { map: sp.map, key: sp.key } : null;
  };
  it('splits at the first space; the key keeps later spaces', () => {
    assert.deepEqual(split('mailertable foo bar.net'), { map: 'mailertable', key: 'foo bar.net' });
  });
  it('allows an empty key', () => {
    assert.deepEqual(split('map '), { map: 'map', key: '' });
  });
  it('refuses a payload without a space or with an empty map name', () => {
    assert.equal(split('nomapname'), null);
    assert.equal(split(' key'), null);
  });
  it('honours the frame bounds inside a larger buffer', () => {
    const sp = new RequestSplitter();
    assert.ok(sp.split(Buffer.from('xxmap keyyy'), 2, 9));
    assert.deepEqual([sp.map, sp.key], ['map', 'key']);
    assert.equal(sp.split(Buffer.from('xxmapkey yy'), 2, 8), false, 'the space after the frame does not count');
  });
  it('reuses the map name while it repeats, and notices every change, also of the same length', () => {
    const sp = new RequestSplitter();
    const first = split('aliases a', sp)!.map;
    assert.equal(split('aliases b', sp)!.map, first);
    assert.deepEqual(split('virtual c', sp), { map: 'virtual', key: 'c' });
    assert.deepEqual(split('aliaseS d', sp), { map: 'aliaseS', key: 'd' });
    assert.deepEqual(split('ключ e', sp), { map: 'ключ', key: 'e' });
    const long = 'm'.repeat(100);
    assert.deepEqual(split(`${long} f`, sp), { map: long, key: 'f' });
    assert.deepEqual(split(`${long.slice(1)}x g`, sp), { map: `${long.slice(1)}x`, key: 'g' });
    assert.deepEqual(split('aliases h', sp), { map: 'aliases', key: 'h' });
  });
});
