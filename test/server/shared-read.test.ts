import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SHARED_READ_BUFFER_SIZE } from '../../src/protocol/read-buffer.js';
import { shareReads, type SharedReadSocket } from '../../src/server/shared-read.js';

const servers: net.Server[] = [];

/**
 * A listening server, a client connected to it and the server's side of that connection. The caller gets
 * the accepted socket in the same turn as the server (a microtask later), before anything can be read.
 */
async function accept(where: { host: string } | { path: string }): Promise<{ raw: net.Socket; client: net.Socket }> {
  let take!: (s: net.Socket) => void;
  const raw = new Promise<net.Socket>((resolve) => (take = resolve));
  const server = net.createServer({ allowHalfOpen: true }, (s) => take(s));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen('path' in where ? { path: where.path } : { host: where.host, port: 0 }, resolve));
  const client = 'path' in where ? net.connect(where.path) : net.connect({ host: where.host, port: (server.address() as net.AddressInfo).port });
  return { raw: await raw, client };
}

function moved(raw: net.Socket): SharedReadSocket {
  const m = shareReads(raw);
  if (typeof m === 'string') assert.fail(`socket was not moved: ${m}`);
  return m;
}

/** Collect what a moved socket reads, as text, copying each chunk out of the shared buffer. */
function collect(m: SharedReadSocket): { text: () => string; chunks: () => number } {
  let text = '';
  let chunks = 0;
  m.sink.handler = (buf, n) => {
    chunks++;
    text += buf.toString('latin1', 0, n);
  };
  return { text: () => text, chunks: () => chunks };
}

const until = async (cond: () => boolean, what: string, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('shared read buffer', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'smapd-shared-read-'));
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['tcp', 'unix'] as const) {
    it(`moves an accepted ${kind} socket: bytes reach the sink, writes go out, end and close are seen`, async () => {
      const { raw, client } = await accept(kind === 'tcp' ? { host: '127.0.0.1' } : { path: path.join(dir, 'a.sock') });
      const m = moved(raw);
      const got = collect(m);
      const ended = new Promise<void>((resolve) => m.socket.on('end', resolve));
      const closed = new Promise<void>((resolve) => m.socket.on('close', () => resolve()));
      let echoed = '';
      client.on('data', (d) => (echoed += d.toString('latin1')));
      client.write('hello ');
      client.write('world');
      await until(() => got.text() === 'hello world', 'the first bytes');
      m.socket.write('back');
      await until(() => echoed === 'back', 'the reply');
      client.end();
      await ended;
      m.socket.end();
      await closed;
      assert.equal(got.text(), 'hello world');
    });
  }

  it('delivers a write longer than the buffer in several reads, byte for byte', async () => {
    const big = Buffer.alloc(SHARED_READ_BUFFER_SIZE * 3 + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
    const { raw, client } = await accept({ host: '127.0.0.1' });
    const m = moved(raw);
    const got = collect(m);
    client.end(big);
    await until(() => got.text().length === big.length, 'all bytes');
    assert.ok(got.chunks() >= 4, `expected several reads, got ${got.chunks()}`);
    assert.ok(Buffer.from(got.text(), 'latin1').equals(big));
    m.socket.destroy();
  });

  it('pause() stops delivery and resume() starts it again', async () => {
    const { raw, client } = await accept({ host: '127.0.0.1' });
    const m = moved(raw);
    const got = collect(m);
    client.write('one');
    await until(() => got.text() === 'one', 'the first write');
    m.socket.pause();
    client.write('two');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.text(), 'one', 'a paused socket must not deliver');
    m.socket.resume();
    await until(() => got.text() === 'onetwo', 'the write made while paused');
    client.destroy();
    m.socket.destroy();
  });

  it('leaves alone a socket that already read data, and one without a handle', async () => {
    const { raw, client } = await accept({ host: '127.0.0.1' });
    client.write('buffered');
    await until(() => raw.readableLength > 0, 'the socket to buffer');
    assert.equal(shareReads(raw), 'the socket has already read data');
    assert.equal(String(raw.read()), 'buffered', 'the data must still be there');
    assert.equal(shareReads(new net.Socket()), 'the socket has no native handle');
    client.destroy();
    raw.destroy();
    assert.equal(shareReads(raw), 'the socket is closed');
  });
});
