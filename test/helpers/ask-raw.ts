/** One request on a fresh connection, and the exact bytes of the reply: for byte-for-byte comparisons. */
import net from 'node:net';
import { encodeNetstringBuffer, NetstringDecoder } from '../../src/protocol/netstring.js';

export function askRaw(url: string, payload: Buffer, ms = 10_000): Promise<Buffer> {
  const m = /^inet6?:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(url);
  const s = m ? net.connect({ host: m[1], port: Number(m[2]) }) : net.connect({ path: url.replace(/^unix:\/\//, '') });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply from ${url} within ${ms} ms`));
    }, ms);
    const decoder = new NetstringDecoder(10_000_000);
    const got: Buffer[] = [];
    s.on('connect', () => s.write(encodeNetstringBuffer(payload)));
    s.on('data', (chunk: Buffer) => {
      got.push(chunk);
      // One request, one reply: the bytes received when its frame is complete are exactly that frame.
      decoder.push(chunk, () => {
        clearTimeout(timer);
        s.destroy();
        resolve(Buffer.concat(got));
      });
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

