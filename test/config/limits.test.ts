/** The connection-limit statements: max-reply-buffer, request-timeout, max-connections-per-address, when-full, ipv6-only. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorAt, parse } from './parse-helpers.js';

describe('connection limit statements', () => {
  it('has the documented defaults', () => {
    const c = parse('server a inet6://[::]:0\n');
    assert.deepEqual(
      [c.maxReplyBuffer, c.requestTimeout, c.maxConnectionsPerAddress, c.whenFull],
      [256 * 1024, 30_000, 0, 'evict'],
    );
    assert.deepEqual([c.servers[0]!.requestTimeout, c.servers[0]!.ipv6Only], [undefined, false]);
  });

  it('reads each statement, globally and in a server block', () => {
    const c = parse(
      'max-reply-buffer 1M\nrequest-timeout 5s\nmax-connections-per-address 50\nwhen-full refuse\n' +
        'server a inet6://[::]:0 begin\n  request-timeout 2\n  ipv6-only yes\nend\n',
    );
    assert.deepEqual(
      [c.maxReplyBuffer, c.requestTimeout, c.maxConnectionsPerAddress, c.whenFull],
      [1024 * 1024, 5_000, 50, 'refuse'],
    );
    assert.deepEqual([c.servers[0]!.requestTimeout, c.servers[0]!.ipv6Only], [2_000, true]);
    assert.equal(parse('request-timeout 0').requestTimeout, 0);
  });

  it('refuses bad values with file and line', () => {
    assert.match(errorAt('\nwhen-full drop', 2), /'when-full' expects evict or refuse, not 'drop'/);
    assert.match(errorAt('max-reply-buffer 1K', 1), /'max-reply-buffer' must be between 4096 and 268435456 bytes, not 1K/);
    assert.match(errorAt('max-reply-buffer lots', 1), /'max-reply-buffer' expects a size/);
    assert.match(errorAt('request-timeout soon', 1), /'request-timeout' expects a duration/);
    assert.match(errorAt('max-connections-per-address -1', 1), /'max-connections-per-address' expects a whole number/);
    assert.match(errorAt('server u unix:///tmp/x.sock begin\n  ipv6-only no\nend', 2), /'ipv6-only' applies only to IPv6 servers/);
  });
});
