import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFrom } from '../../src/dispatch/address.js';
import type { ConnInfo } from '../../src/modules/api.js';
import { inet, inet6, unix } from './fake-db.js';

function check(spec: string, yes: ConnInfo[], no: ConnInfo[]): void {
  const test = compileFrom(spec);
  for (const c of yes) assert.equal(test(c), true, `from ${spec} should match ${c.family} ${c.src || c.dst}`);
  for (const c of no) assert.equal(test(c), false, `from ${spec} should not match ${c.family} ${c.src || c.dst}`);
}

describe('from: IPv4', () => {
  it('matches a single address', () => {
    check('192.0.2.10', [inet('192.0.2.10')], [inet('192.0.2.11'), inet6('::1'), unix('/run/smap.sock')]);
  });

  it('matches a CIDR network', () => {
    check('10.1.0.0/16', [inet('10.1.0.0'), inet('10.1.255.255')], [inet('10.2.0.1'), inet('9.1.0.1')]);
    check('0.0.0.0/0', [inet('1.2.3.4'), inet('255.255.255.255')], [inet6('2001:db8::1'), unix('/s')]);
    check('192.0.2.7/32', [inet('192.0.2.7')], [inet('192.0.2.6')]);
  });

  it('masks off host bits in the rule instead of never matching (GNU Smap bug)', () => {
    check('127.0.0.1/8', [inet('127.9.9.9'), inet('127.0.0.1')], [inet('128.0.0.1')]);
  });

  it('accepts a dotted netmask (never matched in GNU Smap)', () => {
    check('10.20.30.0/255.255.255.0', [inet('10.20.30.99')], [inet('10.20.31.1')]);
    check('172.16.0.0/255.240.0.0', [inet('172.31.255.1')], [inet('172.32.0.1')]);
    check('1.2.3.4/0.0.0.0', [inet('9.9.9.9')], [inet6('::9')]);
  });

  it('uses the high bit correctly (no sign trouble above 128.0.0.0)', () => {
    check('200.100.0.0/16', [inet('200.100.5.5')], [inet('72.100.5.5')]);
    check('255.255.255.255', [inet('255.255.255.255')], [inet('255.255.255.254')]);
  });

  it('matches IPv4-mapped IPv6 clients, whether or not the server unmapped them', () => {
    check('192.0.2.0/24', [inet6('::ffff:192.0.2.1'), inet6('::ffff:c000:205'), inet6('192.0.2.9')], [inet6('::ffff:198.51.100.1')]);
  });

  it('rejects bad addresses, prefixes and non-contiguous masks', () => {
    assert.throws(() => compileFrom('256.1.1.1'), /invalid IPv4 address "256.1.1.1"/);
    assert.throws(() => compileFrom('10.1.2'), /invalid IPv4 address/);
    assert.throws(() => compileFrom('10.0.0.0/33'), /invalid prefix length "\/33".*0 to 32/);
    assert.throws(() => compileFrom('10.0.0.0/'), /invalid prefix length/);
    assert.throws(() => compileFrom('10.0.0.0/-1'), /invalid prefix length/);
    assert.throws(() => compileFrom('10.0.0.0/255.0.255.0'), /not contiguous/);
    assert.throws(() => compileFrom('10.0.0.0/0.0.0.255'), /not contiguous/);
    assert.throws(() => compileFrom('10.0.0.0/255.255.0'), /invalid IPv4 address "255.255.0"/);
  });
});

describe('from: IPv6', () => {
  it('matches a single address in any notation', () => {
    check('2001:db8::1', [inet6('2001:db8::1'), inet6('2001:0db8:0:0:0:0:0:1')], [inet6('2001:db8::2'), inet('1.2.3.4')]);
    check('[::1]', [inet6('::1')], [inet6('::2')]);
    check('[::1]/128', [inet6('::1')], [inet6('::')]);
  });

  it('matches a /64 and other prefixes, with host bits masked', () => {
    check('2001:db8:1:2::/64', [inet6('2001:db8:1:2::1'), inet6('2001:db8:1:2:ffff:ffff:ffff:ffff')], [inet6('2001:db8:1:3::1')]);
    check('2001:db8:1:2::99/64', [inet6('2001:db8:1:2::1')], [inet6('2001:db8:1:3::')]);
    check('fe80::/10', [inet6('fe80::1'), inet6('febf::1')], [inet6('fec0::1')]);
    check('2001:db8::/33', [inet6('2001:db8:7fff::1')], [inet6('2001:db8:8000::1')]);
    check('[2001:db8::]/32', [inet6('2001:db8:ffff::1')], [inet6('2001:db9::1')]);
  });

  it('keeps IPv4 clients out of IPv6 networks, even ::/0', () => {
    check('::/0', [inet6('2001:db8::1'), inet6('::1')], [inet('10.0.0.1'), inet6('::ffff:10.0.0.1'), unix('/s')]);
  });

  it('reads an IPv4-mapped network as an IPv4 network', () => {
    check('::ffff:10.0.0.0/104', [inet('10.200.0.1'), inet6('::ffff:10.1.1.1')], [inet('11.0.0.1')]);
    check('::ffff:192.0.2.5', [inet('192.0.2.5')], [inet('192.0.2.6')]);
  });

  it('ignores a zone index on a client address', () => {
    check('fe80::/64', [inet6('fe80::1%eth0')], []);
  });

  it('rejects bad addresses, prefixes, masks and zones', () => {
    assert.throws(() => compileFrom('2001:db8::g'), /invalid IPv6 address "2001:db8::g"/);
    assert.throws(() => compileFrom('2001:db8::/129'), /invalid prefix length "\/129".*0 to 128/);
    assert.throws(() => compileFrom('2001:db8::/ffff::'), /invalid prefix length/);
    assert.throws(() => compileFrom('::1/255.0.0.0'), /not a dotted mask/);
    assert.throws(() => compileFrom('fe80::1%eth0'), /zone/);
    assert.throws(() => compileFrom('[::1'), /invalid IPv6 address/);
  });
});

describe('from: unix sockets and names', () => {
  it('matches the listener path of unix clients exactly', () => {
    check('/run/smap.sock', [unix('/run/smap.sock')], [unix('/run/smap.sock2'), unix('/run/other.sock'), inet('127.0.0.1')]);
  });

  it('matches the listener path with a glob', () => {
    check('/run/smap/*.sock', [unix('/run/smap/a.sock'), unix('/run/smap/x/y.sock')], [unix('/run/smap/a.socket'), inet('1.1.1.1')]);
    check('/run/smap-[0-9].sock', [unix('/run/smap-3.sock')], [unix('/run/smap-x.sock')]);
  });

  it('refuses host names instead of resolving them', () => {
    assert.throws(() => compileFrom('mail.example.com'), /looks like a host name.*write its address/);
    assert.throws(() => compileFrom('localhost'), /looks like a host name/);
  });

  it('refuses empty and meaningless specs', () => {
    assert.throws(() => compileFrom(''), /needs an address/);
    assert.throws(() => compileFrom('run/smap.sock'), /not an IP address, a network or an absolute unix socket path/);
    assert.throws(() => compileFrom('10.0.0.0/8/8'), /invalid prefix length/);
  });

  it('caches the parsed client per connection and still answers per address', () => {
    const ten = compileFrom('10.0.0.0/8');
    const c = inet('10.1.2.3');
    for (let i = 0; i < 3; i++) assert.equal(ten(c), true);
    assert.equal(ten(inet('11.1.2.3')), false);
    assert.equal(ten({ ...c, src: 'not-an-address' }), false);
  });
});
