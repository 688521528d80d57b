/**
 * max-reply-buffer: a client that pipelines requests with large replies and never reads them must not make
 * smapd buffer every reply. It is answered up to the bound, then neither read nor answered until it reads;
 * other clients are answered throughout, and every reply still arrives, whole and in order, once it reads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeNetstring, NetstringDecoder } from '../../src/protocol/netstring.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { connectRaw } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait.js';

const BIG = 99_000;

describe('per-connection reply buffer', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon('server tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n');
  });
  after(async () => {
    await d.stop();
  });

  it('stops answering a client that does not read its replies, serves others, and resumes when it reads', async () => {
    const N = 3000;
    const s = await connectRaw(d.url());
    s.pause();
    s.write(encodeNetstring(`test big:${BIG}`).repeat(N));
    const stats = d.daemon.stats;
    await waitFor(() => stats.connectionsStalled === 1 || stats.replies.OK >= N, 'the connection to stall');
    // Without the bound all N replies (300 MB) would be made at once. With it, what was answered fits in the
    // bound plus the kernel's socket buffers (a few MB on loopback), a small part of N.
    const answered = stats.replies.OK;
    assert.ok(answered < N / 10, `answered ${answered} of ${N} requests that the client does not read`);

    const other = await d.client();
    assert.equal(await other.query('test', 'meanwhile'), 'OK test/meanwhile');
    assert.equal(stats.connectionsStalled, 1, 'the greedy connection is still held back');
    assert.ok(stats.replies.OK <= answered + 1, 'nothing more was answered for the connection that does not read');

    // Reading now: every reply comes, whole and in order, and the connection is no longer held back.
    const want = `OK ${'x'.repeat(BIG)}`;
    let got = 0;
    let bad = 0;
    const decoder = new NetstringDecoder(200_000);
    await new Promise<void>((resolve, reject) => {
      s.on('error', reject);
      s.on('data', (chunk: Buffer) => {
        decoder.push(chunk, (b, start, end) => {
          if (b.toString('latin1', start, end) !== want) bad++;
          got++;
        });
        if (got === N) resolve();
      });
      s.resume();
    });
    assert.equal(bad, 0);
    assert.equal(got, N);
    assert.equal(stats.connectionsStalled, 0);
    s.destroy();
  });

  it('holds back replies behind a slow one within the same bound', async () => {
    // One slow request, then small ones: their replies wait for it, and are counted against the bound too.
    const s = await connectRaw(d.url());
    let data = '';
    s.on('data', (b: Buffer) => (data += b.toString('latin1')));
    const smalls = Array.from({ length: 200 }, (_, i) => encodeNetstring(`test k${i}`)).join('');
    s.write(encodeNetstring('test sleep:50') + smalls);
    const want = encodeNetstring('OK slept 50') + Array.from({ length: 200 }, (_, i) => encodeNetstring(`OK test/k${i}`)).join('');
    await waitFor(() => data.length >= want.length, 'all replies');
    assert.equal(data, want);
    s.destroy();
  });
});

describe('per-connection reply buffer, configured', () => {
  it('takes max-reply-buffer from the config, and never goes below one reply of max-reply-size', async () => {
    // A bound below one reply still answers, one reply at a time.
    const d = await startDaemon(
      'max-reply-buffer 4K\nmax-reply-size 20000\nserver tcp inet://127.0.0.1:0\nmodule t testmod\ndatabase test t\ndispatch default database test\n',
    );
    try {
      const N = 300;
      const s = await connectRaw(d.url());
      s.pause();
      s.write(encodeNetstring('test big:19000').repeat(N));
      await waitFor(() => d.daemon.stats.connectionsStalled === 1 || d.daemon.stats.replies.OK >= N, 'the connection to stall');
      assert.ok(d.daemon.stats.replies.OK < N, `answered ${d.daemon.stats.replies.OK} of ${N}`);
      let bytes = 0;
      const total = N * encodeNetstring(`OK ${'x'.repeat(19000)}`).length;
      s.on('data', (b: Buffer) => (bytes += b.length));
      s.resume();
      await waitFor(() => bytes >= total, 'every reply');
      assert.equal(bytes, total);
      s.destroy();
    } finally {
      await d.stop();
    }
  });
});
