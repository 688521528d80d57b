/** Raw socket exchanges for protocol-abuse tests: write bytes, read what comes back until a condition or close. */
import net from 'node:net';

/** `allowHalfOpen`: keep our side open after the server ends its own, as a client that does not read would. */
export function connectRaw(url: string, opts: { allowHalfOpen?: boolean } = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const m = /^inet6?:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(url);
    const allowHalfOpen = opts.allowHalfOpen ?? false;
    const s = m
      ? net.connect({ host: m[1], port: Number(m[2]), allowHalfOpen })
      : net.connect({ path: url.replace(/^unix:\/\//, ''), allowHalfOpen });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Everything the server sends until it closes the connection (or `ms` pass: then rejects). */
export function readUntilClose(s: net.Socket, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`server did not close within ${ms} ms; got ${JSON.stringify(data)}`));
    }, ms);
    s.on('data', (d) => (data += d.toString('utf8')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(data);
    });
  });
}

/** Read until `want` bytes of text arrived. */
export function readBytes(s: net.Socket, want: number, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const t = setTimeout(() => reject(new Error(`timeout; got ${JSON.stringify(data)}`)), ms);
    const on = (d: Buffer) => {
      data += d.toString('utf8');
      if (Buffer.byteLength(data) >= want) {
        clearTimeout(t);
        s.off('data', on);
        resolve(data);
      }
    };
    s.on('data', on);
  });
}
