/**
 * `from` conditions: the client's IP network, or the unix socket it came in on.
 *
 * Networks are parsed once with `ip-address` and kept as int32 words (IPv4: one, IPv6: four), so a match is
 * a few ANDs and compares. A client's address is parsed once per connection and cached on its ConnInfo.
 * Unlike GNU Smap, host bits in a rule are masked off (`127.0.0.1/8` is `127.0.0.0/8`), dotted masks work,
 * and IPv6 is supported. IPv4 rules also match IPv4-mapped IPv6 clients (`::ffff:a.b.c.d`).
 */
import { Address4, Address6 } from 'ip-address';
import { PatternError } from '../errors.js';
import type { ConnInfo } from '../modules/api.js';
import { compileGlob, hasGlobSyntax } from './glob.js';

export type ConnTest = (conn: ConnInfo) => boolean;

const NONE = 0;
const V4 = 4;
const V6 = 6;

/** A client address in the form the tests compare: int32 words, as `&` produces them. */
interface ClientAddress {
  readonly kind: typeof NONE | typeof V4 | typeof V6;
  /** The IPv4 address (kind V4). */
  readonly v4: number;
  /** The four words of the IPv6 address (kind V6). */
  readonly v6: Int32Array;
}

const NO_ADDRESS: ClientAddress = { kind: NONE, v4: 0, v6: new Int32Array(4) };
const clientCache = new WeakMap<ConnInfo, ClientAddress>();

function words6(a: Address6): Int32Array {
  const n = a.bigInt();
  const w = new Int32Array(4);
  for (let i = 0; i < 4; i++) w[i] = Number((n >> BigInt(96 - 32 * i)) & 0xffffffffn) | 0;
  return w;
}

/** True for `::ffff:0:0/96`, the IPv4-mapped range. */
function isMapped(w: Int32Array): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

function parseClient(conn: ConnInfo): ClientAddress {
  if (conn.family === 'unix') return NO_ADDRESS;
  const src = conn.src;
  try {
    if (src.includes(':')) {
      const w = words6(new Address6(src));
      // The server should have unmapped it already; an IPv4 client is an IPv4 client whichever way it came.
      if (isMapped(w)) return { kind: V4, v4: w[3]!, v6: NO_ADDRESS.v6 };
      return { kind: V6, v4: 0, v6: w };
    }
    if (Address4.isValid(src)) {
      return { kind: V4, v4: Number(new Address4(src).bigInt()) | 0, v6: NO_ADDRESS.v6 };
    }
  } catch {
    // An address the parser rejects matches no network rule; it cannot come from a real socket.
  }
  return NO_ADDRESS;
}

/** The parsed client address of a connection, computed on its first `from` test. */
export function clientAddress(conn: ConnInfo): ClientAddress {
  let a = clientCache.get(conn);
  if (a === undefined) {
    a = parseClient(conn);
    clientCache.set(conn, a);
  }
  return a;
}

function mask32(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) | 0;
}

function parsePrefix(text: string, max: number, spec: string): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) > max) {
    throw new PatternError(`invalid prefix length "/${text}" in "${spec}": expected 0 to ${max}`);
  }
  return Number(text);
}

function ipv4Test(addr: number, mask: number): ConnTest {
  const net = addr & mask;
  return (conn) => {
    const a = clientAddress(conn);
    return a.kind === V4 && (a.v4 & mask) === net;
  };
}

function ipv6Test(addr: Int32Array, prefix: number): ConnTest {
  const m = new Int32Array(4);
  for (let i = 0; i < 4; i++) m[i] = mask32(Math.min(32, Math.max(0, prefix - 32 * i)));
  const [m0, m1, m2, m3] = m as unknown as [number, number, number, number];
  const n0 = addr[0]! & m0;
  const n1 = addr[1]! & m1;
  const n2 = addr[2]! & m2;
  const n3 = addr[3]! & m3;
  return (conn) => {
    const a = clientAddress(conn);
    if (a.kind !== V6) return false;
    const w = a.v6;
    return (w[0]! & m0) === n0 && (w[1]! & m1) === n1 && (w[2]! & m2) === n2 && (w[3]! & m3) === n3;
  };
}

function parseIPv4(text: string, spec: string): number {
  if (!Address4.isValid(text)) throw new PatternError(`invalid IPv4 address "${text}" in "${spec}"`);
  return Number(new Address4(text).bigInt()) | 0;
}

function compileIPv4(spec: string): ConnTest {
  const slash = spec.indexOf('/');
  const addr = parseIPv4(slash < 0 ? spec : spec.slice(0, slash), spec);
  if (slash < 0) return ipv4Test(addr, -1);
  const maskText = spec.slice(slash + 1);
  if (!maskText.includes('.')) return ipv4Test(addr, mask32(parsePrefix(maskText, 32, spec)));
  const mask = parseIPv4(maskText, spec);
  const inverted = ~mask;
  // A contiguous mask is ones then zeros, so its complement plus one is a power of two (or zero).
  if ((inverted & (inverted + 1)) !== 0) {
    throw new PatternError(`netmask "${maskText}" in "${spec}" is not contiguous (ones must come first)`);
  }
  return ipv4Test(addr, mask);
}

function compileIPv6(spec: string): ConnTest {
  let text = spec;
  let prefixText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?:\/(.*))?$/.exec(spec);
  if (bracketed) {
    text = bracketed[1]!;
    prefixText = bracketed[2];
  } else {
    const slash = spec.indexOf('/');
    if (slash >= 0) {
      text = spec.slice(0, slash);
      prefixText = spec.slice(slash + 1);
    }
  }
  if (text.includes('%')) throw new PatternError(`"${spec}": zone indexes (%...) are not supported in rules`);
  if (prefixText !== undefined && prefixText.includes('.')) {
    throw new PatternError(`"${spec}": IPv6 networks take a prefix length (/64), not a dotted mask`);
  }
  const prefix = prefixText === undefined ? 128 : parsePrefix(prefixText, 128, spec);
  let addr: Address6;
  try {
    addr = new Address6(text);
  } catch (err) {
    throw new PatternError(`invalid IPv6 address "${text}" in "${spec}": ${(err as Error).message}`);
  }
  const w = words6(addr);
  // `::ffff:a.b.c.d/NN` names IPv4 clients, and those are compared as IPv4.
  if (prefix >= 96 && isMapped(w)) return ipv4Test(w[3]!, mask32(prefix - 96));
  return ipv6Test(w, prefix);
}

function compileUnixPath(spec: string): ConnTest {
  if (hasGlobSyntax(spec)) {
    const test = compileGlob(spec);
    return (conn) => conn.family === 'unix' && test(conn.dst);
  }
  return (conn) => conn.family === 'unix' && conn.dst === spec;
}

/**
 * Compile a `from` spec: `a.b.c.d`, `a.b.c.d/NN`, `a.b.c.d/m.m.m.m`, an IPv6 address or network (optionally
 * in brackets), or an absolute unix socket path (a glob allowed). Host names are refused: resolving them at
 * load time, as GNU Smap does, silently ties the rule to whatever DNS said then.
 */
export function compileFrom(spec: string): ConnTest {
  if (spec === '') throw new PatternError('"from" needs an address, a network or a socket path');
  if (spec.startsWith('/')) return compileUnixPath(spec);
  if (spec.includes(':')) return compileIPv6(spec);
  if (/^[\d.]+(\/.*)?$/.test(spec)) return compileIPv4(spec);
  if (/^[A-Za-z0-9.-]+$/.test(spec)) {
    throw new PatternError(
      `"${spec}" looks like a host name; smapd does not resolve names in rules, write its address or ` +
        `network instead (from 192.0.2.10, from 192.0.2.0/24, from 2001:db8::/32)`,
    );
  }
  throw new PatternError(`"${spec}" is not an IP address, a network or an absolute unix socket path`);
}
