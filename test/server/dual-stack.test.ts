/**
 * `inet6://[::]` takes IPv4 clients too (dual-stack), unless `ipv6-only yes`; such a client is an IPv4 client
 * for the modules and for `from` rules, as on an IPv4 listener.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { parseConfigText } from '../../src/config/parser.js';
import { startDaemon } from '../helpers/daemon.js';

const RULES = `
module t testmod
database test t
database v4 t v4-
dispatch from 127.0.0.0/8 database v4
dispatch default database test
`;

function refused(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      reject(new Error('an IPv4 client was accepted by an ipv6-only listener'));
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('dual-stack IPv6 listener', () => {
  for (const url of ['inet6://[::]:0', 'inet://[::]:0']) {
    it(`${url} answers IPv4 clients, seen as plain IPv4 by modules and from rules`, async () => {
      const d = await startDaemon(`server any ${url}\n${RULES}`);
      try {
        const v4 = await SmapClient.connect({ url: `inet://127.0.0.1:${d.port()}`, timeoutMs: 5000 });
        assert.equal(await v4.query('m', 'conn'), 'OK any inet 127.0.0.1');
        assert.equal(await v4.query('m', 'k'), 'OK v4-m/k');
        await v4.close();
        const v6 = await SmapClient.connect({ url: `inet6://[::1]:${d.port()}`, timeoutMs: 5000 });
        assert.equal(await v6.query('m', 'conn'), 'OK any inet6 ::1');
        assert.equal(await v6.query('m', 'k'), 'OK m/k');
        await v6.close();
      } finally {
        await d.stop();
      }
    });
  }

  it('ipv6-only yes takes IPv6 clients only', async () => {
    const d = await startDaemon(`server any inet6://[::]:0 begin\n  ipv6-only yes\nend\n${RULES}`);
    try {
      assert.equal(await refused(d.port()), 'ECONNREFUSED');
      const v6 = await SmapClient.connect({ url: `inet6://[::1]:${d.port()}`, timeoutMs: 5000 });
      assert.equal(await v6.query('m', 'conn'), 'OK any inet6 ::1');
      await v6.close();
    } finally {
      await d.stop();
    }
  });

  it('refuses ipv6-only on a listener that is not IPv6', () => {
    assert.throws(
      () => parseConfigText(`server a inet://127.0.0.1:0 begin\n  ipv6-only yes\nend\n${RULES}`, '/etc/smapd.conf'),
      /'ipv6-only' applies only to IPv6 servers, and 'a' listens on inet:\/\/127\.0\.0\.1:0/,
    );
  });
});
