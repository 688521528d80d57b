/**
 * A small real sockmap server for the client and smapc tests, on 127.0.0.1 port 0 and on a unix socket in
 * a temp dir. What it answers depends on the map:
 *   echo KEY      → `OK KEY`                   status TEXT → TEXT verbatim (`status TEMP db down`)
 *   big N         → an OK reply of N bytes      slow MS     → `OK slept MS`, after MS ms
 *   never KEY     → no reply at all             close KEY   → closes the connection
 *   garbage KEY   → bytes that are no netstring twice KEY   → two replies to one request
 *   anything else → `NOTFOUND `                 no space    → `PERM malformed request`
 * Replies keep request order even when an earlier one is slow, as a real server must.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeNetstring, NetstringDecoder } from '../../src/protocol/netstring.js';

export interface TestServer {
  readonly tcpUrl: string;
  readonly unixUrl: string;
  readonly port: number;
  /** Every request payload received, in order, over all connections. */
  readonly requests: string[];
  /** Per connection: the number of request frames in each 'data' chunk. */
  readonly framesPerChunk: number[][];
  /** The most requests received on one connection and not yet answered at the same time. */
  maxOutstanding: number;
  close(): Promise<void>;
}

/** What to send back, in order with the replies to earlier requests. */
interface Action {
  raw?: string;
  reply?: string;
  close?: boolean;
}

function answer(payload: string): Promise<Action> | Action {
  const sp = payload.indexOf(' ');
  if (sp < 0) return { reply: 'PERM malformed request' };
  const map = payload.slice(0, sp);
  const key = payload.slice(sp + 1);
  switch (map) {
    case 'echo':
      return { reply: `OK ${key}` };
    case 'status':
      return { reply: key };
    case 'big':
      return { reply: 'OK ' + 'x'.repeat(Number(key) - 3) };
    case 'slow':
      return new Promise((resolve) => setTimeout(() => resolve({ reply: `OK slept ${key}` }), Number(key)));
    case 'never':
      return new Promise(() => undefined);
    case 'close':
      return { close: true };
    case 'garbage':
      return { raw: 'xyz:' };
    case 'twice':
      return { raw: encodeNetstring(`OK first ${key}`), reply: `OK second ${key}` };
    default:
      return { reply: 'NOTFOUND ' };
  }
}

export async function startTestServer(): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'smapc-test-'));
  const sockPath = path.join(dir, 'smap.sock');
  const sockets = new Set<net.Socket>();
  const state = {
    requests: [] as string[],
    framesPerChunk: [] as number[][],
    maxOutstanding: 0,
  };

  const onConnection = (sock: net.Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    const decoder = new NetstringDecoder(10_000_000);
    const chunks: number[] = [];
    state.framesPerChunk.push(chunks);
    let outstanding = 0;
    let chain: Promise<void> = Promise.resolve();
    sock.on('data', (data: Buffer) => {
      let frames = 0;
      try {
        decoder.push(data, (buf, start, end) => {
          frames++;
          const payload = buf.toString('utf8', start, end);
          state.requests.push(payload);
          outstanding++;
          state.maxOutstanding = Math.max(state.maxOutstanding, outstanding);
          const action = answer(payload);
          chain = chain.then(async () => {
            const a = await action;
            outstanding--;
            if (sock.destroyed) return;
            if (a.raw !== undefined) sock.write(a.raw);
            if (a.reply !== undefined) sock.write(encodeNetstring(a.reply));
            if (a.close) sock.end();
          });
        });
      } catch {
        sock.destroy();
      }
      chunks.push(frames);
    });
  };

  const tcp = net.createServer(onConnection);
  const unix = net.createServer(onConnection);
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => unix.listen(sockPath, resolve));
  const port = (tcp.address() as net.AddressInfo).port;

  return Object.assign(state, {
    tcpUrl: `inet://127.0.0.1:${port}`,
    unixUrl: `unix://${sockPath}`,
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([tcp, unix].map((srv) => new Promise((resolve) => srv.close(resolve))));
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** A TCP URL nobody listens on: a port just released by a server of our own. */
export async function deadUrl(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return `inet://127.0.0.1:${port}`;
}
