/**
 * The control socket of a multi-process smapd (`workers 2`, started with `smapd -f -c FILE`): `flush` empties
 * the caches of every worker, not just one, and `db` commands are refused with the documented reason, since
 * each worker has its own copy of each database.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { controlCommand } from '../../src/control/client.js';
import { spawnSmapd, stopAll } from '../helpers/spawned.js';

after(stopAll);

interface Status {
  databases: Record<string, { cache: { entries: number } | null }>;
}

/** Poll `status` (the primary refreshes its sums once a second) until `cond` holds; the last status. */
async function untilStatus(ctl: string, cond: (s: Status) => boolean, what: string): Promise<Status> {
  const end = Date.now() + 15_000;
  for (;;) {
    const s = JSON.parse((await controlCommand(ctl, 'status', 5000)).replace(/^OK /, '')) as Status;
    if (cond(s)) return s;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; last status: ${JSON.stringify(s.databases)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('control commands with workers 2', () => {
  it('flush reaches every worker, and db commands are refused', async () => {
    const d = spawnSmapd(
      [
        'workers 2',
        'control-socket @DIR@/ctl.sock',
        'server u unix://@DIR@/s.sock',
        'module t testmod',
        'database d t begin',
        '  cache ttl=10m',
        'end',
        'dispatch default database d',
        '',
      ].join('\n'),
    );
    await d.address('u');
    const ctl = `${d.dir}/ctl.sock`;
    const url = `unix://${d.dir}/s.sock`;
    // Connections go to the workers in turn: open them until each worker has one.
    const byWorker = new Map<string, SmapClient>();
    const extra: SmapClient[] = [];
    for (let i = 0; i < 20 && byWorker.size < 2; i++) {
      const c = await SmapClient.connect({ url, timeoutMs: 10_000 });
      const pid = await c.query('m', 'pid');
      if (byWorker.has(pid)) extra.push(c);
      else byWorker.set(pid, c);
    }
    try {
      assert.equal(byWorker.size, 2, 'both workers serve');
      const entries = (s: Status) => s.databases.d?.cache?.entries ?? -1;
      for (let round = 0; round < 2; round++) {
        // Each worker caches `pid`, a and b: three entries each.
        for (const c of byWorker.values()) {
          assert.equal(await c.query('m', 'a'), 'OK m/a');
          assert.equal(await c.query('m', 'b'), 'OK m/b');
        }
        await untilStatus(ctl, (s) => entries(s) === 6, 'six cache entries over two workers');
        assert.match(await controlCommand(ctl, round === 0 ? 'flush' : 'flush d', 5000), /^OK flushed/);
        await untilStatus(ctl, (s) => entries(s) === 0, 'every worker to have flushed its cache');
        for (const [pid, c] of byWorker) assert.equal(await c.query('m', 'pid'), pid, 'the worker answers after the flush');
      }

      assert.equal(await controlCommand(ctl, 'db d list', 5000), 'ERR database commands are not available with workers > 1');
    } finally {
      await Promise.all([...byWorker.values(), ...extra].map((c) => c.close()));
    }
    assert.equal(await d.stop(), 0, d.stderr());
  });
});
