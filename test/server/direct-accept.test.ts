import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/parser.js';
import type { ServerDecl } from '../../src/config/types.js';
import { acceptOntoSharedReads } from '../../src/server/direct-accept.js';
import { openListener, type OpenListener } from '../../src/server/listeners.js';
import type { ChunkSink, SharedReadSocket } from '../../src/server/shared-read.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(tmpdir(), 'smapd-direct-accept-'));

function decls(): ServerDecl[] {
  const file = path.join(dir, 'smapd.conf');
  writeFileSync(file, `server t inet://127.0.0.1:0\nserver u unix://${path.join(dir, 'u.sock')}\n`);
  return [...loadConfig(file).servers];
}

function connect(l: OpenListener): net.Socket {
  const m = /^unix:\/\/(.*)$/.exec(l.address);
  return m ? net.connect(m[1]!) : net.connect({ host: '127.0.0.1', port: Number(/:(\d+)$/.exec(l.address)![1]) });
}

/** Echo each read back upper-cased, through the sink (the read is only valid during the call). */
function serveUpper(socket: net.Socket, sink: ChunkSink): void {
  sink.handler = (buf, n) => socket.write(buf.toString('latin1', 0, n).toUpperCase());
  socket.on('end', () => socket.end());
}

describe('direct accept onto the shared read buffer', () => {
  const listeners: OpenListener[] = [];
  after(async () => {
    await Promise.all(listeners.map((l) => l.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [i, kind] of ['tcp', 'unix'].entries()) {
    it(`a ${kind} listener makes one socket per connection: no 'connection' event, and the socket comes with its sink`, async () => {
      let sinks = 0;
      let plain = 0;
      const l = await openListener(decls()[i]!, (socket, _decl, sink) => {
        if (sink === undefined) {
          plain++;
          socket.destroy();
          return;
        }
        sinks++;
        assert.equal(socket.allowHalfOpen, true);
        serveUpper(socket, sink);
      });
      listeners.push(l);
      let events = 0;
      l.server.on('connection', () => events++);
      assert.equal(l.direct, true);
      for (let n = 0; n < 3; n++) {
        const c = connect(l);
        let got = '';
        c.on('data', (d: Buffer) => (got += d.toString('latin1')));
        const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
        c.write('abc');
        await waitFor(() => got === 'ABC', 'the answer');
        // Half-open: what is sent after the client's end still reaches it, then the server closes.
        c.end('def');
        await closed;
        assert.equal(got, 'ABCDEF');
      }
      assert.deepEqual({ sinks, plain, events }, { sinks: 3, plain: 0, events: 0 });
    });
  }

  it('a listener that hands sockets on (pauseOnConnect) keeps the stock sockets, unread', async () => {
    let got: { socket: net.Socket; sink: ChunkSink | undefined } | undefined;
    const l = await openListener(decls()[0]!, (socket, _d, sink) => (got = { socket, sink }), { pauseOnConnect: true });
    listeners.push(l);
    assert.equal(l.direct, false);
    const c = connect(l);
    c.write('x');
    await waitFor(() => got !== undefined, 'the connection');
    assert.equal(got!.sink, undefined);
    assert.equal(got!.socket.isPaused(), true);
    got!.socket.destroy();
    c.destroy();
  });

  it('leaves a server without a listening handle as it is', () => {
    const server = net.createServer();
    assert.equal(acceptOntoSharedReads(server, true, () => undefined), false);
  });

  it('reports the peer of a directly accepted socket', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    let accepted: SharedReadSocket | undefined;
    assert.equal(acceptOntoSharedReads(server, false, (a) => (accepted = a)), true);
    const c = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    await new Promise<void>((resolve) => c.on('connect', resolve));
    await waitFor(() => accepted !== undefined, 'the connection');
    assert.equal(accepted!.socket.remoteAddress, '127.0.0.1');
    assert.equal(accepted!.socket.remotePort, c.localPort);
    assert.equal(accepted!.socket.localPort, (server.address() as net.AddressInfo).port);
    accepted!.socket.destroy();
    c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
