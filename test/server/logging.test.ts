import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capture } from '../helpers/capture-log.js';
import { startDaemon } from '../helpers/daemon.js';

const BASE = 'server tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase d t\ndispatch map eq m database d\n';

describe('trace and debug categories', () => {
  it('trace logs MAP KEY => REPLY, only for replies matching trace-pattern', async () => {
    const { log, lines } = capture();
    const d = await startDaemon('trace yes\ntrace-pattern OK\n' + BASE, log);
    try {
      const c = await d.client();
      assert.equal(await c.query('m', 'alice'), 'OK m/alice');
      assert.equal(await c.query('other', 'bob'), 'NOTFOUND ');
      const traces = lines().filter((l) => String(l.msg).startsWith('TRACE:'));
      assert.deepEqual(traces.map((l) => l.msg), ['TRACE: m alice => OK m/alice']);
      assert.equal(traces[0]!.server, 'tcp');
    } finally {
      await d.stop();
    }
  });

  it('-d query logs every request at debug level; nothing without it', async () => {
    for (const [debug, expected] of [['debug query\n', 2], ['', 0]] as const) {
      const { log, lines } = capture();
      const d = await startDaemon(debug + BASE, log);
      try {
        const c = await d.client();
        await c.query('m', 'a');
        await c.query('x', 'b');
        const q = lines().filter((l) => l.msg === 'query');
        assert.equal(q.length, expected);
        if (expected) assert.deepEqual([q[1]!.map, q[1]!.key, q[1]!.reply, q[1]!.cat], ['x', 'b', 'NOTFOUND ', 'query']);
      } finally {
        await d.stop();
      }
    }
  });
});
