/**
 * The control socket and the metrics endpoint on a real daemon: bind a value over the control socket, look
 * it up as a mail client would, see it counted in /metrics, reload, and find the binding in the snapshot.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { controlMain } from '../../src/cli/smapc-control.js';
import { startControlServer } from '../../src/control/server.js';
import { smapdTarget } from '../../src/control/target.js';
import { loadConfig } from '../../src/config/parser.js';
import { startMetricsServer } from '../../src/metrics/server.js';
import { parseSnapshot } from '../../modules/memory/snapshot.js';
import { startDaemon } from '../helpers/daemon.js';
import { silentLogger } from '../helpers/module-context.js';
import { parseExposition, valueOf } from '../metrics/exposition-parser.js';
import { httpGet } from '../helpers/http-get.js';

const CONFIG = `
server tcp inet://127.0.0.1:0
module memory memory
database routes memory capacity=100 snapshot=routes.snap fold-case positive-reply="OK smtp:[\${value}]"
dispatch map transport database routes
dispatch default database routes
`;

function sink() {
  const out: string[] = [];
  return { io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => out.push(t) } }, text: () => out.join('') };
}

describe('control socket and metrics on a running daemon', () => {
  it('binds at run time, answers clients, counts, and keeps bindings across a reload', async () => {
    const d = await startDaemon(CONFIG);
    let stopping = false;
    const target = smapdTarget(d.daemon, () => stopping);
    const sock = path.join(d.dir, 'control.sock');
    const control = await startControlServer(sock, target, silentLogger);
    const metrics = await startMetricsServer({ host: '127.0.0.1', port: 0 }, target, silentLogger);
    try {
      const c = await d.client();
      assert.equal(await c.query('transport', 'Example.ORG'), 'NOTFOUND ');

      const s = sink();
      assert.equal(await controlMain(sock, ['db', 'routes', 'bind', 'example.org', 'mx1.example.net'], s.io), 0);
      assert.equal(s.text(), 'added example.org mx1.example.net\n');
      assert.equal(await c.query('transport', 'EXAMPLE.org'), 'OK smtp:[mx1.example.net]');

      const m = parseExposition((await httpGet(metrics.address.port, '/metrics')).body);
      assert.equal(valueOf(m, 'smapd_requests_total'), 2);
      assert.equal(valueOf(m, 'smapd_replies_total', { status: 'OK' }), 1);
      assert.equal(valueOf(m, 'smapd_replies_total', { status: 'NOTFOUND' }), 1);
      assert.equal(valueOf(m, 'smapd_connections_open'), 1);
      assert.equal(valueOf(m, 'smapd_db_queries_total', { db: 'routes' }), 2);

      // A reload builds a new database; it takes the bindings over, and control commands reach it.
      await d.daemon.reload(loadConfig(path.join(d.dir, 'smapd.conf')));
      const s2 = sink();
      assert.equal(await controlMain(sock, ['db', 'routes', 'resolve', 'example.org'], s2.io), 0);
      assert.equal(s2.text(), 'mx1.example.net\n');
      const c2 = await d.client();
      assert.equal(await c2.query('transport', 'example.org'), 'OK smtp:[mx1.example.net]');

      stopping = true;
      assert.equal((await httpGet(metrics.address.port, '/health')).status, 503);
      await c.close();
      await c2.close();
    } finally {
      await metrics.close();
      await control.close();
      const snap = path.join(d.dir, 'routes.snap');
      await d.daemon.stop();
      assert.deepEqual(parseSnapshot(readFileSync(snap, 'utf8'), snap).bindings, [['example.org', 'mx1.example.net']]);
      await d.stop();
    }
  });
});
