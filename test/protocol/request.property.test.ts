/**
 * Property: request splitting is byte-exact. For any payload bytes (8-bit, NUL, invalid UTF-8 included), the
 * splitter cuts at the first space, and map and key give back exactly the bytes they came from; two different
 * payloads never give the same (map, key); and the map name the splitter remembers between requests never
 * leaks into the next one, whatever the order of requests on a connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { textBytes } from '../../src/protocol/bytes.js';
import { RequestSplitter } from '../../src/protocol/request.js';

const SPACE = 0x20;

/** Bytes biased towards what breaks decoders: spaces, NUL, 0x80-0xFF, lone continuation and lead bytes. */
const byte = fc.oneof(
  fc.constant(SPACE),
  fc.constant(0),
  fc.integer({ min: 0x80, max: 0xff }),
  fc.integer({ min: 0x21, max: 0x7e }),
  fc.constantFrom(0xc3, 0xe9, 0xef, 0xbf, 0xbd, 0xf0, 0x9f),
);
const payload = fc.array(byte, { minLength: 0, maxLength: 24 }).map((a) => Buffer.from(a));

function split(s: RequestSplitter, p: Buffer): { map: string; key: string } | null {
  // Payloads sit inside a bigger buffer, as they do in the shared read buffer.
  const buf = Buffer.concat([Buffer.from('xx'), p, Buffer.from('yy')]);
  return s.split(buf, 2, 2 + p.length) ? { map: s.map, key: s.key } : null;
}

describe('request splitting (property)', () => {
  it('gives back the exact bytes of map and key, cut at the first space', () => {
    fc.assert(
      fc.property(payload, (p) => {
        const r = split(new RequestSplitter(), p);
        const sp = p.indexOf(SPACE);
        if (sp <= 0) {
          assert.equal(r, null, 'no space, or an empty map name, is no request');
          return;
        }
        assert.notEqual(r, null);
        assert.ok(textBytes(r!.map).equals(p.subarray(0, sp)), 'map bytes');
        assert.ok(textBytes(r!.key).equals(p.subarray(sp + 1)), 'key bytes');
      }),
      { numRuns: 3000 },
    );
  });

  it('never makes one lookup of two different requests', () => {
    fc.assert(
      fc.property(payload, payload, (a, b) => {
        fc.pre(!a.equals(b));
        const ra = split(new RequestSplitter(), a);
        const rb = split(new RequestSplitter(), b);
        if (ra === null || rb === null) return;
        assert.ok(ra.map !== rb.map || ra.key !== rb.key, `${a.toString('hex')} and ${b.toString('hex')} split alike`);
      }),
      { numRuns: 3000 },
    );
  });

  it('answers each request of a connection on its own, whatever came before (the remembered map name)', () => {
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 12 }), (ps) => {
        const shared = new RequestSplitter();
        for (const p of ps) assert.deepEqual(split(shared, p), split(new RequestSplitter(), p));
      }),
      { numRuns: 1500 },
    );
  });
});
