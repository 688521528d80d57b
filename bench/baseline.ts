/**
 * The bare baseline server: a net server and the project's NetstringDecoder answering `OK value` from one
 * Map, with no config, dispatch, modules, counters or logging, and one write per chunk of requests. It is
 * the ceiling for a Node sockmap server on this machine, so smapd's figures divided by its figures show what
 * smapd's own layers cost.
 *
 *   node dist/bench/baseline.js MAPFILE [HOST]   prints {"port":N} on stdout once listening; SIGTERM stops it
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { NetstringDecoder } from '../src/protocol/netstring.js';
import { acceptOntoSharedReads } from '../src/server/direct-accept.js';
import { deliverChunks, shareReads, type ChunkSink } from '../src/server/shared-read.js';

const SPACE = 0x20;
const MAX_REQUEST = 100_000;

/** The replies, made once at load as smapd's file module does: `OK value` for each key. */
function loadReplies(file: string): Map<string, string> {
  const replies = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\S+)\s+(.*?)\s*$/.exec(line);
    if (m && !m[1]!.startsWith('#')) replies.set(m[1]!, 'OK ' + m[2]!);
  }
  return replies;
}

function frame(reply: string): string {
  return Buffer.byteLength(reply, 'utf8') + ':' + reply + ',';
}

/** `sink`: the socket reads into the shared buffer already (direct accept); otherwise it is moved there. */
function serve(accepted: net.Socket, replies: Map<string, string>, sink?: ChunkSink): void {
  accepted.setNoDelay(true);
  // Read as smapd does, into the process's one shared buffer, so the comparison is of everything else.
  const moved = sink !== undefined ? { socket: accepted, sink } : shareReads(accepted);
  const socket = typeof moved === 'string' ? accepted : moved.socket;
  const decoder = new NetstringDecoder(MAX_REQUEST);
  let out = '';
  const onFrame = (buf: Buffer, start: number, end: number): void => {
    const sp = buf.indexOf(SPACE, start);
    if (sp < 0 || sp >= end) {
      out += frame('PERM malformed request');
      return;
    }
    out += frame(replies.get(buf.toString('utf8', sp + 1, end)) ?? 'NOTFOUND ');
  };
  const onChunk = (chunk: Buffer, length: number): void => {
    try {
      decoder.push(chunk, onFrame, length);
    } catch {
      socket.destroy();
      return;
    }
    if (out !== '') {
      socket.write(out);
      out = '';
    }
  };
  deliverChunks(socket, typeof moved === 'string' ? undefined : moved.sink, onChunk);
  socket.on('end', () => socket.end());
  socket.on('error', () => undefined);
}

function main(): void {
  const [file, host = '127.0.0.1'] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: baseline MAPFILE [HOST]\n');
    process.exit(64);
  }
  const replies = loadReplies(file);
  const server = net.createServer({ allowHalfOpen: true }, (socket) => serve(socket, replies));
  server.listen({ host, port: 0 }, () => {
    // Accept as smapd's listeners do: one socket per connection, made on the shared buffer.
    acceptOntoSharedReads(server, true, (a) => serve(a.socket, replies, a.sink));
    const { port } = server.address() as net.AddressInfo;
    process.stdout.write(JSON.stringify({ port, keys: replies.size }) + '\n');
  });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    // Clients of an aborted run may still be connected; do not wait for them.
    setTimeout(() => process.exit(0), 500).unref();
  });
}

main();
