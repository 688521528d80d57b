/**
 * Connections that come and go: each closed one gives back its place under the limits and its hold on the
 * runtime it was accepted on, and a connection keeps the config it was accepted under across a reload while
 * new ones get the new one (the daemon shares one connection context per runtime and server).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { loadConfig } from '../../src/config/parser.js';
import { startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const BACKEND = 'module t testmod\ndatabase test t\ndispatch default database test\n';

describe('connection churn', () => {
  it('one connection after another, each closed: all served within tight limits, and every count back to 0', async () => {
    const d = await startDaemon(
      `when-full refuse\nmax-connections-per-address 1\nserver tcp inet://127.0.0.1:0 begin\n max-connections 1\nend\n${BACKEND}`,
    );
    try {
      const rounds = 40;
      for (let i = 0; i < rounds; i++) {
        const c = await SmapClient.connect({ url: d.url(), timeoutMs: 10000 });
        assert.equal(await c.query('test', `k${i}`), `OK test/k${i}`);
        await c.close();
        // The server sees the close a moment later; only then is the place free again.
        await waitFor(() => d.daemon.openConnections === 0, `connection ${i} to be closed on the server`);
      }
      const s = d.daemon.stats;
      assert.deepEqual(
        { total: s.connectionsTotal, open: s.connectionsOpen, rejected: s.connectionsRejected },
        { total: rounds, open: 0, rejected: 0 },
      );
      // The places are free: two at once is one too many for these limits, and is refused.
      const a = await d.client();
      assert.equal(await a.query('test', 'x'), 'OK test/x');
      const b = await SmapClient.connect({ url: d.url(), timeoutMs: 10000 });
      await b.closed;
      assert.equal(s.connectionsRejected, 1);
    } finally {
      await d.stop();
    }
  });

  it('a connection keeps the config it was accepted under; one accepted after a reload gets the new one', async () => {
    const maps = await mkdtemp(path.join(tmpdir(), 'smapd-churn-'));
    const conf = (name: string) =>
      `server tcp inet://127.0.0.1:0\nmodule m file\ndatabase db m file=${path.join(maps, name)}\ndispatch default database db\n`;
    await writeFile(path.join(maps, 'first.map'), 'k first\n');
    await writeFile(path.join(maps, 'second.map'), 'k second\n');
    const d = await startDaemon(conf('first.map'));
    try {
      const old = await d.client();
      assert.equal(await old.query('any', 'k'), 'OK first');
      const confFile = path.join(d.dir, 'smapd.conf');
      await writeFile(confFile, conf('second.map'));
      await d.daemon.reload(loadConfig(confFile));
      const fresh = await d.client();
      assert.equal(await fresh.query('any', 'k'), 'OK second');
      assert.equal(await old.query('any', 'k'), 'OK first', 'the older connection still answers from its own config');
      await old.close();
      await waitFor(() => d.daemon.openConnections === 1, 'the older connection to be closed on the server');
      assert.equal(await fresh.query('any', 'k'), 'OK second');
    } finally {
      await d.stop();
      await rm(maps, { recursive: true, force: true });
    }
  });
});
