/**
 * A database without a `timeout` statement answers `TIMEOUT` after the documented default, 90 s (below
 * Postfix's fixed 100 s), and not before. The daemon is real; only setTimeout and performance.now are mocked,
 * once the connection is up, so ninety seconds pass in an instant and exactly.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { performance } from 'node:perf_hooks';
import { encodeNetstring } from '../../src/protocol/netstring.js';
import { startDaemon } from '../helpers/daemon.js';
import { connectRaw } from '../helpers/raw.js';

const DEFAULT_MS = 90_000;

const turn = () => new Promise((r) => setImmediate(r));

describe('database timeout default', () => {
  it('is 90 s', async () => {
    const d = await startDaemon('server tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase d t\ndispatch default database d\n');
    const s = await connectRaw(d.url());
    let got = '';
    s.on('data', (b) => (got += b.toString()));
    try {
      // Timers and the monotonic clock the deadlines are kept on both move only when the test says so.
      mock.timers.enable({ apis: ['setTimeout'] });
      const start = performance.now();
      let elapsed = 0;
      mock.method(performance, 'now', () => start + elapsed);
      const tick = (ms: number) => {
        elapsed += ms;
        mock.timers.tick(ms);
      };
      s.write(encodeNetstring('m sleep:1000000'));
      for (let i = 0; i < 10_000 && d.daemon.stats.requests === 0; i++) await turn();
      assert.equal(d.daemon.stats.requests, 1, 'the request arrived');
      tick(DEFAULT_MS - 1);
      for (let i = 0; i < 20; i++) await turn();
      assert.equal(got, '', 'no answer before 90 s');
      tick(1);
      const want = encodeNetstring(`TIMEOUT database timeout`);
      for (let i = 0; i < 10_000 && got.length < want.length; i++) await turn();
      assert.equal(got, want);
    } finally {
      mock.timers.reset();
      mock.restoreAll();
      s.destroy();
      await d.stop();
    }
  });
});
