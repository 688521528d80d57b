/**
 * Stopping a daemon started from a config file (`smapd -f -c FILE`): the control socket and the metrics
 * endpoint the file configures, `/health` turning 503 as soon as the stop begins, and the shutdown timeout
 * closing a connection whose lookup would outlast it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { ConnectionClosedError } from '../../src/client/errors.js';
import { controlCommand } from '../../src/control/client.js';
import { spawnSmapd, stopAll, type SpawnedSmapd } from '../helpers/spawned.js';
import { httpGet } from '../helpers/http-get.js';

after(stopAll);

/** Poll the control socket's status until `requests` have arrived (the daemon counts them on arrival). */
async function untilRequests(ctl: string, n: number): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    const status = JSON.parse((await controlCommand(ctl, 'status', 5000)).replace(/^OK /, '')) as { requests: number };
    if (status.requests >= n) return;
    if (Date.now() > end) throw new Error(`only ${status.requests} of ${n} requests arrived`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Rejects after `ms`: a bound for a promise that must settle. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const SHUTDOWN_MS = 600;

describe('smapd -f -c FILE: control, metrics and stop', () => {
  let d: SpawnedSmapd;

  it('serves the control socket and metrics from the config, answers /health 503 while stopping, and forces a slow connection closed after shutdown-timeout', async () => {
    d = spawnSmapd(
      [
        `shutdown-timeout ${SHUTDOWN_MS}ms`,
        'control-socket @DIR@/ctl.sock',
        'metrics-listen 127.0.0.1:0',
        'server tcp inet://127.0.0.1:0',
        'module t testmod',
        'database d t',
        'dispatch default database d',
        '',
      ].join('\n'),
    );
    const ctl = `${d.dir}/ctl.sock`;
    const url = await d.address('tcp');
    const metricsPort = Number((await d.waitForLog(/^metrics listening$/)).port);

    assert.deepEqual(await httpGet(metricsPort, '/health'), { status: 200, body: 'ok\n' });
    const fast = await SmapClient.connect({ url, timeoutMs: 10_000 });
    assert.equal(await fast.query('m', 'k'), 'OK m/k');
    assert.match((await httpGet(metricsPort, '/metrics')).body, /^smapd_requests_total 1$/m);
    assert.match(await controlCommand(ctl, 'status', 5000), /^OK \{.*"requests":1\b/);

    // A lookup that would take a minute, and an idle connection.
    const slow = await SmapClient.connect({ url, timeoutMs: 120_000 });
    const pending = slow.query('m', 'sleep:60000');
    pending.catch(() => undefined);
    await untilRequests(ctl, 2);

    const from = d.lines.length;
    d.process.kill('SIGTERM');
    await d.waitForLog(/^stopping$/, 15_000, from);
    const stopAt = Date.now();
    // The stop has begun and the slow lookup holds it open: a balancer must already see "not healthy".
    assert.deepEqual(await httpGet(metricsPort, '/health'), { status: 503, body: 'stopping\n' });
    await within(fast.closed, 10_000, 'the idle connection closes at once');

    await within(
      assert.rejects(pending, (e: Error) => e instanceof ConnectionClosedError),
      20_000,
      'the slow connection is closed by the shutdown timeout',
    );
    const took = Date.now() - stopAt;
    assert.ok(took >= SHUTDOWN_MS - 100, `the slow connection was closed ${took} ms after the stop began, before shutdown-timeout`);
    assert.equal(await d.exitCode(), 0, d.stderr());
    const forced = d.lines.find((l) => /shutdown timeout/.test(String(l.msg)));
    assert.ok(forced !== undefined, 'the forced close is logged');
    assert.equal(forced.open, 1, 'only the slow connection was left to force');
    assert.ok(d.lines.some((l) => l.msg === 'smapd stopped'));
  });
});
