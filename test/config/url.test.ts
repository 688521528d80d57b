import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { parseListenUrl, splitHostPort } from '../../src/config/url.js';

describe('parseListenUrl: accepted forms', () => {
  it('inet with an IPv4 address or a host name', () => {
    assert.deepEqual(parseListenUrl('inet://10.10.1.11:3056'), { kind: 'inet', host: '10.10.1.11', port: 3056, text: 'inet://10.10.1.11:3056' });
    assert.deepEqual(parseListenUrl('inet://localhost:0'), { kind: 'inet', host: 'localhost', port: 0, text: 'inet://localhost:0' });
    assert.deepEqual(parseListenUrl('inet://mail-gw.example.org.:65535'), { kind: 'inet', host: 'mail-gw.example.org.', port: 65535, text: 'inet://mail-gw.example.org.:65535' });
  });

  it('IPv6 in brackets, with inet6:// or inet://', () => {
    assert.deepEqual(parseListenUrl('inet6://[::1]:3145'), { kind: 'inet6', host: '::1', port: 3145, text: 'inet6://[::1]:3145' });
    assert.deepEqual(parseListenUrl('inet://[2001:db8::5]:25'), { kind: 'inet6', host: '2001:db8::5', port: 25, text: 'inet://[2001:db8::5]:25' });
  });

  it('unix://, local:// and a bare absolute path', () => {
    assert.deepEqual(parseListenUrl('unix:///var/run/smap.sock'), { kind: 'unix', path: '/var/run/smap.sock', text: 'unix:///var/run/smap.sock' });
    assert.deepEqual(parseListenUrl('local:///tmp/s'), { kind: 'unix', path: '/tmp/s', text: 'local:///tmp/s' });
    assert.deepEqual(parseListenUrl('/tmp/bare.sock'), { kind: 'unix', path: '/tmp/bare.sock', text: '/tmp/bare.sock' });
  });

  it('ignores the case of the scheme', () => {
    assert.equal(parseListenUrl('INET://127.0.0.1:1').kind, 'inet');
  });
});

describe('parseListenUrl: rejected forms', () => {
  const bad: [string, RegExp][] = [
    ['127.0.0.1:3145', /is not a listener URL/],
    ['tcp://127.0.0.1:25', /unknown scheme 'tcp'/],
    ['inet://127.0.0.1', /missing ':PORT'/],
    ['inet://127.0.0.1:', /missing port number/],
    ['inet://127.0.0.1:65536', /port 65536 is out of range/],
    ['inet://127.0.0.1:smtp', /port must be a number 0-65535, not 'smtp' \(service names are not supported\)/],
    ['inet://127.0.0.1:-1', /port must be a number/],
    ['inet://:25', /missing host/],
    ['inet://bad_host!:25', /invalid host name 'bad_host!'/],
    ['inet://::1:25', /write an IPv6 address in brackets/],
    ['inet6://::1:25', /write an IPv6 address in brackets/],
    ['inet6://127.0.0.1:25', /write the address in brackets/],
    ['inet6://[::1:25', /missing '\]'/],
    ['inet6://[not-v6]:25', /'not-v6' is not an IPv6 address/],
    ['inet6://[::1]25', /expected ':PORT'/],
    ['unix://relative/sock', /must be absolute/],
    ['unix://', /must be absolute/],
    ['unix:///tmp/dir/', /names a directory/],
    ['/', /names a directory/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${text || '(empty)'}`, () => {
      assert.throws(() => parseListenUrl(text), (err: unknown) => err instanceof ConfigError && message.test(err.message));
    });
  }
});

describe('splitHostPort', () => {
  it('parses HOST:PORT and [V6]:PORT', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:9100', 'm'), { host: '127.0.0.1', port: 9100, bracketed: false });
    assert.deepEqual(splitHostPort('[::1]:9100', 'm'), { host: '::1', port: 9100, bracketed: true });
  });

  it('names the thing being parsed in its errors', () => {
    assert.throws(() => splitHostPort('9100', 'metrics-listen'), /^ConfigError: metrics-listen: missing ':PORT'$/);
  });
});
