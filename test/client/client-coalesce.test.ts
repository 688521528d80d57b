import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SmapClient } from '../../src/client/client.js';
import { startTestServer, type TestServer } from './sockmap-server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
});

describe('SmapClient coalesce', () => {
  for (const mode of ['tick', 'turn'] as const) {
    it(`${mode}: the requests of one ${mode} leave in one write, and the replies match them`, async () => {
      const c = await SmapClient.connect({ url: srv.tcpUrl, coalesce: mode });
      try {
        const keys = Array.from({ length: 20 }, (_, i) => `${mode}-k${i}`);
        const replies = await Promise.all(keys.map((k) => c.query('echo', k)));
        assert.deepEqual(replies, keys.map((k) => `OK ${k}`));
        // The connection is the last one the server saw; its first chunk held all 20 frames.
        assert.deepEqual(srv.framesPerChunk[srv.framesPerChunk.length - 1]?.[0], 20);
      } finally {
        await c.close();
      }
    });
  }

  it('a request in bytes (a key that is not UTF-8) keeps its place among the text requests of its turn', async () => {
    const c = await SmapClient.connect({ url: srv.tcpUrl, coalesce: 'turn' });
    try {
      // U+DC80 + byte stands for a raw byte (src/protocol/bytes.ts): this key goes out as a Buffer.
      const raw = 'r\udcff';
      const keys = ['a', 'b', raw, 'c', 'd'];
      const before = srv.requests.length;
      const replies = await Promise.all(keys.map((k) => c.query('echo', k)));
      const sent = srv.requests.slice(before);
      assert.deepEqual(
        sent.map((p) => p.slice(5)),
        ['a', 'b', 'r\ufffd', 'c', 'd'],
        'the server got them in the order asked',
      );
      assert.equal(replies[0], 'OK a');
      assert.equal(replies[1], 'OK b');
      assert.equal(replies[3], 'OK c');
      assert.equal(replies[4], 'OK d');
    } finally {
      await c.close();
    }
  });
});
