/**
 * The client's source address as the server sees it. smapd's test module answers the key `conn` with the
 * address the connection came from, so an unbound client (127.0.0.1) and a bound one (127.0.0.2, 127.0.0.3:
 * all of 127/8 is loopback on Linux) tell apart. Supersedes "binds the source address" in client.test.ts and
 * "source-binds with -s" in smapc.test.ts, which only checked that a query still worked.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { runSmapc } from '../cli/smapc-run.js';

let d: TestDaemon;
let home: string;
before(async () => {
  d = await startDaemon('server tcp inet://0.0.0.0:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n');
  home = mkdtempSync(path.join(tmpdir(), 'smapc-src-'));
});
after(async () => {
  await d.stop();
  rmSync(home, { recursive: true, force: true });
});

const url = () => `inet://127.0.0.1:${d.port()}`;

describe('source address', () => {
  it('SmapClient connects from the address it was given', async () => {
    const plain = await SmapClient.connect({ url: url(), timeoutMs: 10_000 });
    const bound = await SmapClient.connect({ url: url(), timeoutMs: 10_000, sourceAddress: '127.0.0.2' });
    try {
      assert.equal(await plain.query('test', 'conn'), 'OK tcp inet 127.0.0.1');
      assert.equal(await bound.query('test', 'conn'), 'OK tcp inet 127.0.0.2');
    } finally {
      await plain.close();
      await bound.close();
    }
  });

  it('smapc -s binds the source address', async () => {
    const r = await runSmapc(['-s', '127.0.0.3', '-S', url(), 'test', 'conn'], { home });
    assert.deepEqual(r, { code: 0, stdout: 'OK tcp inet 127.0.0.3\n', stderr: '' });
  });
});
