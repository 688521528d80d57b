/**
 * A scripted Redis for the tests of the module's own connection (link.ts): it speaks enough RESP2 to set a
 * connection up and answer GET from a map, records every chunk it reads, and lets a test decide when and how
 * the replies go out (held back, byte by byte, cut off).
 */
import net from 'node:net';

export interface FakeCommand {
  readonly args: readonly Buffer[];
  readonly socket: net.Socket;
}

/** What to send for one command: reply bytes, or null to send nothing now (the test sends it later). */
export type FakeHandler = (cmd: FakeCommand, answer: (args: readonly Buffer[]) => Buffer) => Buffer | null;

/** The standard answer: +OK to set-up commands, a GET from `data` as a bulk string or nil. */
export function standardAnswer(data: ReadonlyMap<string, Buffer | string>, args: readonly Buffer[]): Buffer {
  const name = args[0]!.toString().toUpperCase();
  if (name === 'GET') {
    const v = data.get(args[1]!.toString('latin1'));
    if (v === undefined) return Buffer.from('$-1\r\n');
    const b = typeof v === 'string' ? Buffer.from(v) : v;
    return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
  }
  if (name === 'HGET') return Buffer.from('-WRONGTYPE Operation against a key holding the wrong kind of value\r\n');
  return Buffer.from('+OK\r\n');
}

/** Parse the whole commands at the start of `buf`; returns them and the bytes left over. */
function parseCommands(buf: Buffer): { cmds: Buffer[][]; rest: Buffer } {
  const cmds: Buffer[][] = [];
  let at = 0;
  outer: while (at < buf.length) {
    let p = at;
    const line = (): number | null => {
      const cr = buf.indexOf('\r\n', p);
      if (cr < 0) return null;
      const n = Number(buf.toString('latin1', p + 1, cr));
      p = cr + 2;
      return n;
    };
    const count = line();
    if (count === null) break;
    const args: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const len = line();
      if (len === null || p + len + 2 > buf.length) break outer;
      args.push(buf.subarray(p, p + len));
      p += len + 2;
    }
    cmds.push(args);
    at = p;
  }
  return { cmds, rest: buf.subarray(at) };
}

export class FakeRedis {
  /** Every chunk read, per connection in the order they were accepted. */
  readonly chunks: Buffer[][] = [];
  readonly sockets: net.Socket[] = [];
  private readonly server: net.Server;

  private constructor(handler: FakeHandler, data: ReadonlyMap<string, Buffer | string>) {
    this.server = net.createServer((socket) => {
      const mine: Buffer[] = [];
      this.chunks.push(mine);
      this.sockets.push(socket);
      let rest = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        mine.push(chunk);
        const parsed = parseCommands(Buffer.concat([rest, chunk]));
        rest = Buffer.from(parsed.rest);
        const out: Buffer[] = [];
        for (const args of parsed.cmds) {
          const r = handler({ args, socket }, (a) => standardAnswer(data, a));
          if (r !== null) out.push(r);
        }
        if (out.length > 0 && !socket.destroyed) socket.write(Buffer.concat(out));
      });
    });
  }

  static async start(data: ReadonlyMap<string, Buffer | string>, handler: FakeHandler = (c, answer) => answer(c.args)): Promise<FakeRedis> {
    const f = new FakeRedis(handler, data);
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    return f;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** The chunks of connection `i` that hold a GET (the set-up commands left out). */
  lookupChunks(i: number): string[] {
    return (this.chunks[i] ?? []).map((c) => c.toString('latin1')).filter((c) => c.includes('GET\r\n'));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
