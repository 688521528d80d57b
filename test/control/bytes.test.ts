/**
 * The control socket carries bytes as sockmap does: a `bind` of an 8-bit key sent as raw bytes binds exactly
 * that key, a mail client sending those bytes finds it, and `list` gives the bytes back.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startControlServer } from '../../src/control/server.js';
import { smapdTarget } from '../../src/control/target.js';
import { startDaemon } from '../helpers/daemon.js';
import { silentLogger } from '../helpers/module-context.js';

/** One control request as raw bytes; resolves with the reply payload's bytes. */
function controlRaw(sock: string, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no control reply within 5 s; got ${data.toString('latin1')}`));
    }, 5000);
    s.once('connect', () => s.write(Buffer.concat([Buffer.from(`${payload.length}:`), payload, Buffer.from(',')])));
    s.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      const colon = data.indexOf(0x3a);
      const len = Number(data.subarray(0, colon).toString('latin1'));
      if (colon > 0 && data.length >= colon + len + 2) {
        clearTimeout(timer);
        s.destroy();
        resolve(data.subarray(colon + 1, colon + 1 + len));
      }
    });
    s.once('error', reject);
  });
}

describe('control socket with 8-bit keys', () => {
  it('binds, answers and lists an 8-bit key byte for byte', async () => {
    const d = await startDaemon(`
server tcp inet://127.0.0.1:0
module memory memory
database mem memory capacity=10
dispatch default database mem
`);
    const sock = path.join(d.dir, 'control.sock');
    const control = await startControlServer(sock, smapdTarget(d.daemon, () => false), silentLogger);
    try {
      const bind = (key: number, value: string) =>
        controlRaw(sock, Buffer.concat([Buffer.from('db mem bind k'), Buffer.from([key]), Buffer.from(` ${value}`)]));
      assert.deepEqual(await bind(0xfe, 'fe-hit'), Buffer.concat([Buffer.from('OK added k'), Buffer.from([0xfe]), Buffer.from(' fe-hit')]));
      assert.deepEqual(await bind(0xff, 'ff-hit'), Buffer.concat([Buffer.from('OK added k'), Buffer.from([0xff]), Buffer.from(' ff-hit')]));
      const c = await d.client();
      assert.equal(await c.query('m', 'k\udcfe'), 'OK fe-hit');
      assert.equal(await c.query('m', 'k\udcff'), 'OK ff-hit');
      assert.equal(await c.query('m', 'k\ufffd'), 'NOTFOUND ');
      const listed = await controlRaw(sock, Buffer.from('db mem list'));
      assert.ok(listed.includes(Buffer.concat([Buffer.from('k'), Buffer.from([0xfe])])), listed.toString('latin1'));
      assert.ok(listed.includes(Buffer.concat([Buffer.from('k'), Buffer.from([0xff])])), listed.toString('latin1'));
    } finally {
      await control.close();
      await d.stop();
    }
  });
});
