/**
 * Property: the netstring decoder's output depends on the bytes, not on how they were cut into chunks. Any
 * stream (valid frames, some of them longer than the cap, with random bytes spliced in) split at any points
 * decodes to the same frames followed by the same error (class and message) as the stream in one piece; and
 * a valid stream decodes to exactly the payloads that were framed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeNetstringBuffer, NetstringDecoder } from '../../src/protocol/netstring.js';

const MAX = 40;

interface Outcome {
  frames: string[];
  error: string | null;
}

function decode(stream: Buffer, cuts: readonly number[]): Outcome {
  const d = new NetstringDecoder(MAX);
  const frames: string[] = [];
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  try {
    for (const to of [...points, stream.length]) {
      if (to <= from) continue;
      // A fresh Buffer per chunk, so nothing can lean on the previous chunk still being there.
      d.push(Buffer.from(stream.subarray(from, to)), (buf, s, e) => frames.push(buf.toString('hex', s, e)));
      from = to;
    }
    return { frames, error: null };
  } catch (err) {
    return { frames, error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

/**
 * The reference: the netstring rules read straight off the whole stream. Frames, then the class of the first
 * error; a stream that ends inside a frame is no error (more may come).
 */
function reference(stream: Buffer): { frames: string[]; error: string | null } {
  const frames: string[] = [];
  let i = 0;
  while (i < stream.length) {
    let len = 0;
    let digits = 0;
    for (;;) {
      if (i >= stream.length) return { frames, error: null };
      const c = stream[i++]!;
      if (c >= 0x30 && c <= 0x39) {
        digits++;
        if (digits > 20) return { frames, error: 'ProtocolError' };
        len = len * 10 + (c - 0x30);
        if (len > MAX) return { frames, error: 'RequestTooLargeError' };
      } else if (c === 0x3a && digits > 0) {
        break;
      } else {
        return { frames, error: 'ProtocolError' };
      }
    }
    if (i + len >= stream.length) return { frames, error: null };
    if (stream[i + len] !== 0x2c) return { frames, error: 'ProtocolError' };
    frames.push(stream.toString('hex', i, i + len));
    i += len + 1;
  }
  return { frames, error: null };
}

const payload = fc.uint8Array({ maxLength: MAX + 10 }).map((a) => Buffer.from(a));
const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('netstring decoder properties', () => {
  it('a valid stream decodes to its payloads, however it is split', () => {
    const small = fc.uint8Array({ maxLength: MAX }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.array(small, { maxLength: 8 }), cuts, (frames, at) => {
        const stream = Buffer.concat(frames.map(encodeNetstringBuffer));
        assert.deepEqual(decode(stream, at), { frames: frames.map((f) => f.toString('hex')), error: null });
      }),
      { numRuns: 300 },
    );
  });

  it('any stream, oversize frames and stray bytes included, gives the same frames and error whatever the split', () => {
    const splice = fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 3 })), { maxLength: 3 });
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 6 }), splice, cuts, (frames, stray, at) => {
        let stream = Buffer.concat(frames.map(encodeNetstringBuffer));
        for (const [pos, bytes] of stray) {
          const p = pos % (stream.length + 1);
          stream = Buffer.concat([stream.subarray(0, p), Buffer.from(bytes), stream.subarray(p)]);
        }
        const whole = decode(stream, []);
        assert.deepEqual({ frames: whole.frames, error: whole.error?.replace(/:.*/s, '') ?? null }, reference(stream));
        assert.deepEqual(decode(stream, at), whole);
        // One byte at a time is the harshest split.
        assert.deepEqual(
          decode(
            stream,
            Array.from({ length: stream.length }, (_, i) => i),
          ),
          whole,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('a frame longer than the cap is refused from its length, before its payload arrives', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX + 1, max: 10_000_000 }), (len) => {
        // Only the length digits and the colon: a decoder that waited for the payload would not throw.
        const r = decode(Buffer.from(`${len}:`), []);
        assert.deepEqual(r, { frames: [], error: `RequestTooLargeError: request length exceeds ${MAX} bytes` });
      }),
      { numRuns: 100 },
    );
  });
});
