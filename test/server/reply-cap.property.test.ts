/**
 * Property: max-reply-size counts UTF-8 bytes. Through a running smapd, any answer of at most the cap is sent
 * as it is, and any longer one becomes `PERM reply too long`, whatever mix of 1- to 4-byte characters it has
 * (the server's shortcut on the string length must never let a long reply through, nor cap a short one).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { SmapClient } from '../../src/client/client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

const CAP = 200;
let d: TestDaemon;
let c: SmapClient;

before(async () => {
  d = await startDaemon(`max-reply-size ${CAP}\nserver tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n`);
  c = await d.client();
});
after(() => d.stop());

describe('max-reply-size', () => {
  it('passes every answer of at most the cap in bytes, and replaces every longer one with PERM', async () => {
    // One character of each UTF-8 width; keys long enough to land on both sides of the cap.
    const char = fc.constantFrom('a', 'é', '€', '😀');
    const key = fc
      .oneof(
        fc.array(char, { maxLength: 90 }).map((a) => a.join('')),
        // One width throughout: the widest bytes-per-code-unit ratio a reply can have.
        fc.tuple(char, fc.nat({ max: 90 })).map(([ch, n]) => ch.repeat(n)),
      )
      .map((s) => `k${s}`);
    await fc.assert(
      fc.asyncProperty(key, async (k) => {
        const answer = `OK m/${k}`; // what the test module answers
        const expected = Buffer.byteLength(answer) <= CAP ? answer : `PERM reply too long (limit ${CAP} bytes)`;
        assert.equal(await c.query('m', k), expected, `${Buffer.byteLength(answer)} bytes`);
      }),
      { numRuns: 400 },
    );
  });

  it('is exact at the boundary', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('a', 'é', '€', '😀'), fc.integer({ min: -4, max: 4 }), async (ch, delta) => {
        // Fill to CAP + delta bytes with ASCII after one multi-byte character.
        const base = `OK m/k${ch}`;
        const k = `k${ch}${'a'.repeat(CAP + delta - Buffer.byteLength(base))}`;
        const answer = `OK m/${k}`;
        assert.equal(Buffer.byteLength(answer), CAP + delta);
        assert.equal(await c.query('m', k), delta <= 0 ? answer : `PERM reply too long (limit ${CAP} bytes)`);
      }),
      { numRuns: 60 },
    );
  });
});
