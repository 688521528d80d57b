/**
 * Property: `from` network rules against a small oracle over BigInts. A rule NET/N matches a client when
 * their first N bits agree and both are of the same kind, where an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
 * as a client or as a rule with N >= 96) is IPv4, whichever way it was written. Rules are written in every
 * accepted form (`a.b.c.d`, `/N`, dotted mask, IPv6 with and without brackets, mapped); clients are often
 * near the rule's network, so both answers occur.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileFrom } from '../../src/dispatch/address.js';
import type { ConnInfo } from '../../src/modules/api.js';

type Kind = 4 | 6;
interface Addr {
  kind: Kind;
  value: bigint;
}

const BITS = { 4: 32n, 6: 128n } as const;

function v4Text(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}

function v6Text(v: bigint): string {
  return Array.from({ length: 8 }, (_, i) => ((v >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
}

const MAPPED_HIGH = 0xffffn; // ::ffff:0:0/96 shifted right by 32

/** An IPv4-mapped IPv6 address is an IPv4 address. */
function normalise(a: Addr): Addr {
  if (a.kind === 6 && a.value >> 32n === MAPPED_HIGH) return { kind: 4, value: a.value & 0xffffffffn };
  return a;
}

function oracle(rule: Addr, prefix: number, client: Addr): boolean {
  let r = rule;
  let p = BigInt(prefix);
  if (rule.kind === 6 && prefix >= 96 && rule.value >> 32n === MAPPED_HIGH) {
    r = { kind: 4, value: rule.value & 0xffffffffn };
    p -= 96n;
  }
  const c = normalise(client);
  if (r.kind !== c.kind) return false;
  const shift = BITS[r.kind] - p;
  return r.value >> shift === c.value >> shift;
}

function conn(a: Addr, mappedText: boolean): ConnInfo {
  const src = a.kind === 4 ? (mappedText ? `::ffff:${v4Text(a.value)}` : v4Text(a.value)) : v6Text(a.value);
  return { serverId: 's', family: a.kind === 4 && !mappedText ? 'inet' : 'inet6', src, srcPort: 1, dst: '', dstPort: 0 };
}

const v4 = fc.bigInt({ min: 0n, max: 0xffffffffn });
const v6 = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  // Inside and around the mapped range, where the two kinds meet.
  v4.map((v) => (MAPPED_HIGH << 32n) | v),
  v4.map((v) => (0xfffen << 32n) | v),
);

/** A client near `base`: some of the low bits flipped. */
function near(kind: Kind, base: bigint) {
  return fc.tuple(fc.nat({ max: Number(BITS[kind]) }), fc.bigInt({ min: 0n, max: (1n << BITS[kind]) - 1n })).map(([bits, noise]) => ({
    kind,
    value: base ^ (noise & ((1n << BigInt(bits)) - 1n)),
  }));
}

function dottedMask(prefix: number): string {
  return v4Text(prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n));
}

describe('from rules: CIDR matching against an oracle', () => {
  it('IPv4 rules (a.b.c.d, /N, dotted mask) for IPv4 clients, plain or mapped, and IPv6 clients', () => {
    const arb = v4.chain((net) =>
      fc.record({
        net: fc.constant(net),
        prefix: fc.oneof(fc.constantFrom(0, 1, 8, 31, 32), fc.integer({ min: 0, max: 32 })),
        form: fc.constantFrom('plain', 'cidr', 'mask'),
        client: fc.oneof(near(4, net), v6.map((value) => ({ kind: 6 as Kind, value }))),
        mappedText: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(arb, ({ net, prefix, form, client, mappedText }) => {
        const p = form === 'plain' ? 32 : prefix;
        const spec = form === 'plain' ? v4Text(net) : form === 'cidr' ? `${v4Text(net)}/${prefix}` : `${v4Text(net)}/${dottedMask(prefix)}`;
        const c = conn(client, mappedText && client.kind === 4);
        assert.equal(compileFrom(spec)(c), oracle({ kind: 4, value: net }, p, client), `from ${spec}, client ${c.src}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('IPv6 rules (bare, bracketed, mapped) for IPv6 clients and IPv4 clients', () => {
    const arb = v6.chain((net) =>
      fc.record({
        net: fc.constant(net),
        // The edges, where an off-by-one hides, as often as the rest.
        prefix: fc.oneof(fc.constantFrom(0, 1, 31, 32, 63, 64, 95, 96, 97, 127, 128), fc.integer({ min: 0, max: 128 })),
        bracketed: fc.boolean(),
        client: fc.oneof(near(6, net), v4.map((value) => ({ kind: 4 as Kind, value }))),
        mappedText: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(arb, ({ net, prefix, bracketed, client, mappedText }) => {
        const spec = bracketed ? `[${v6Text(net)}]/${prefix}` : `${v6Text(net)}/${prefix}`;
        const c = conn(client, mappedText && client.kind === 4);
        assert.equal(compileFrom(spec)(c), oracle({ kind: 6, value: net }, prefix, client), `from ${spec}, client ${c.src}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('unix-socket clients match no network rule', () => {
    fc.assert(
      fc.property(v4, fc.integer({ min: 0, max: 32 }), (net, prefix) => {
        const unix: ConnInfo = { serverId: 's', family: 'unix', src: '', srcPort: 0, dst: '/run/smap.sock', dstPort: 0 };
        assert.equal(compileFrom(`${v4Text(net)}/${prefix}`)(unix), false);
        assert.equal(compileFrom(`::/${prefix}`)(unix), false);
      }),
      { numRuns: 50 },
    );
  });
});
