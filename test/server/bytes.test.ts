/**
 * Keys are bytes, end to end: raw 8-bit requests on a real socket reach the modules and come back in replies
 * byte for byte, and two different keys are never one lookup (file map, cache).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { connectRaw } from '../helpers/raw.js';
import { Readable, Writable } from 'node:stream';
import { smapcMain } from '../../src/cli/smapc.js';

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

const frame = (payload: Buffer): Buffer => Buffer.concat([Buffer.from(`${payload.length}:`), payload, Buffer.from(',')]);

/** Reads whole netstrings off a socket, as bytes. */
class RawReplies {
  private data = Buffer.alloc(0);
  private waiting: (() => void) | null = null;

  constructor(socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.waiting?.();
    });
  }

  private take(): Buffer | null {
    const colon = this.data.indexOf(0x3a);
    if (colon < 0) return null;
    const len = Number(this.data.subarray(0, colon).toString('latin1'));
    if (this.data.length < colon + 1 + len + 1) return null;
    assert.equal(this.data[colon + 1 + len], 0x2c, 'netstring ends with a comma');
    const payload = this.data.subarray(colon + 1, colon + 1 + len);
    this.data = this.data.subarray(colon + 2 + len);
    return payload;
  }

  async next(ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = this.take();
      if (got !== null) return got;
      if (Date.now() > deadline) throw new Error(`no complete reply within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        this.waiting = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiting = null;
    }
  }
}

describe('8-bit keys on a real socket', () => {
  let d: TestDaemon;
  let socket: net.Socket;
  let replies: RawReplies;
  let mapDir = '';
  let latinMap = '';

  const lookup = async (map: Buffer, key: Buffer): Promise<Buffer> => {
    socket.write(frame(Buffer.concat([map, Buffer.from(' '), key])));
    return replies.next();
  };

  before(async () => {
    // Written before the daemon starts, which loads file maps before it listens.
    mapDir = mkdtempSync(path.join(tmpdir(), 'smapd-latin-map-'));
    latinMap = path.join(mapDir, 'latin.map');
    // A map file mixing Latin-1 and UTF-8 bytes: each must be its own key.
    writeFileSync(
      latinMap,
      Buffer.concat([
        bytes('caf', [0xe9], ' latin1-hit\n'),
        bytes('café utf8-hit\n'),
        bytes([0xfe], ' fe-hit\n'),
        bytes([0xff], ' ff-hit\n'),
        bytes('value ', [0xe9, 0xe8], '\n'),
      ]),
    );
    d = await startDaemon(`
server tcp inet://127.0.0.1:0
module echo echo
module file file
database echo echo OK \${key}
database both echo OK \${map}|\${key} begin
  cache ttl=10m size=100
end
database latin file file=${latinMap} begin
  cache ttl=10m negative-ttl=10m size=100
end
dispatch map eq echo database echo
dispatch map eq latin database latin
dispatch default database both
`);
    socket = await connectRaw(d.url());
    replies = new RawReplies(socket);
  });

  after(async () => {
    socket?.destroy();
    await d?.stop();
    if (mapDir !== '') rmSync(mapDir, { recursive: true, force: true });
  });

  it('echoes a 131-byte 8-bit key back as exactly those bytes', async () => {
    const key = Buffer.alloc(131);
    for (let i = 0; i < key.length; i++) key[i] = 0x80 + ((i * 7) % 128);
    const reply = await lookup(Buffer.from('echo'), key);
    assert.equal(reply.length, 3 + 131);
    assert.deepEqual(reply, Buffer.concat([Buffer.from('OK '), key]));
  });

  it('keeps UTF-8 keys as they were', async () => {
    assert.deepEqual(await lookup(Buffer.from('echo'), bytes('Straße')), bytes('OK Straße'));
  });

  it('gives back an 8-bit map name byte for byte', async () => {
    assert.deepEqual(await lookup(bytes('m', [0xe4]), bytes('k', [0xf6])), bytes('OK m', [0xe4], '|k', [0xf6]));
  });

  it('finds Latin-1 and UTF-8 entries of a map file apart, and \\xfe apart from \\xff', async () => {
    const map = Buffer.from('latin');
    // Twice each: the second answers come from the cache, which must keep the keys apart too.
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await lookup(map, bytes('caf', [0xe9])), bytes('OK latin1-hit'));
      assert.deepEqual(await lookup(map, bytes('café')), bytes('OK utf8-hit'));
      assert.deepEqual(await lookup(map, bytes([0xfe])), bytes('OK fe-hit'));
      assert.deepEqual(await lookup(map, bytes([0xff])), bytes('OK ff-hit'));
      assert.deepEqual(await lookup(map, bytes([0xfd])), bytes('NOTFOUND '));
      assert.deepEqual(await lookup(map, bytes('caf\ufffd')), bytes('NOTFOUND '));
      assert.deepEqual(await lookup(map, bytes('value')), bytes('OK ', [0xe9, 0xe8]));
    }
  });

  it('keeps pipelined replies in order when some are bytes and some text', async () => {
    socket.write(
      Buffer.concat([
        frame(bytes('echo a')),
        frame(bytes('echo ', [0xe9])),
        frame(bytes('echo é')),
        frame(bytes('echo ', [0xc3])),
        frame(bytes('echo z')),
      ]),
    );
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await replies.next());
    assert.deepEqual(got, [bytes('OK a'), bytes('OK ', [0xe9]), bytes('OK é'), bytes('OK ', [0xc3]), bytes('OK z')]);
  });

  it('never lets two different lookups share a cache entry, NUL bytes included', async () => {
    const map = Buffer.from('cached');
    assert.deepEqual(await lookup(bytes('cached', [0], 'x'), bytes('y')), bytes('OK cached', [0], 'x|y'));
    assert.deepEqual(await lookup(map, bytes('x', [0], 'y')), bytes('OK cached|x', [0], 'y'));
  });

  it('the client library sends and reads 8-bit keys and replies byte-exact too', async () => {
    const c = await d.client();
    const k = 'caf\udce9';
    assert.equal(await c.query('echo', k), 'OK caf\udce9');
    assert.equal(await c.query('latin', k), 'OK latin1-hit');
    assert.deepEqual(await c.pipeline([['latin', '\udcfe'], ['latin', '\udcff'], ['echo', 'plain']]), ['OK fe-hit', 'OK ff-hit', 'OK plain']);
  });

  it('smapc sends the bytes of a batch file and prints the reply bytes', async () => {
    const out: Buffer[] = [];
    const stdout = new Writable({
      write(chunk: Buffer, _enc, done) {
        out.push(Buffer.from(chunk));
        done();
      },
    });
    const stderr = new Writable({ write: (_c, _e, done) => done() });
    const stdin = Readable.from([bytes('echo caf', [0xe9], '\nlatin caf', [0xe9], '\r\nlatin ', [0xfe])]);
    const code = await smapcMain(['-S', d.url()], { stdin, stdout, stderr, env: { HOME: d.dir } });
    assert.equal(code, 0);
    assert.deepEqual(Buffer.concat(out), bytes('OK caf', [0xe9], '\nOK latin1-hit\nOK fe-hit\n'));
  });

  it('a config file in Latin-1 matches the same bytes in a rule and answers them in a reply', async () => {
    const confDir = mkdtempSync(path.join(tmpdir(), 'smapd-latin-conf-'));
    const rules = path.join(confDir, 'rules.conf');
    writeFileSync(rules, bytes('database cafe echo OK caf', [0xe9], '\ndispatch key eq caf', [0xe9], ' database cafe\ndispatch default database rest\n'));
    const d2 = await startDaemon(`
server tcp inet://127.0.0.1:0
module echo echo
database rest echo NOTFOUND
include ${rules}
`);
    try {
      const s2 = await connectRaw(d2.url());
      const r2 = new RawReplies(s2);
      s2.write(frame(bytes('m caf', [0xe9])));
      assert.deepEqual(await r2.next(), bytes('OK caf', [0xe9]));
      s2.write(frame(bytes('m café')));
      assert.deepEqual(await r2.next(), bytes('NOTFOUND '));
      s2.destroy();
    } finally {
      await d2.stop();
      rmSync(confDir, { recursive: true, force: true });
    }
  });
});
