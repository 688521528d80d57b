/**
 * A TCP relay to a real server that a test can cut and restore on the same port, to play an outage (or a
 * failed primary) without stopping a server other tests use. It counts the connections it relayed.
 */
import net from 'node:net';

export class TcpRelay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** Client connections accepted since the relay was made. */
  accepted = 0;

  /** `tap`, when given, makes for each client connection a function that sees every chunk the client sends before it is passed on. */
  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
    private readonly tap?: () => (chunk: Buffer) => void,
  ) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      this.accepted++;
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      const tap = this.tap?.();
      if (tap === undefined) {
        client.pipe(upstream);
      } else {
        client.on('data', (chunk: Buffer) => {
          tap(chunk);
          upstream.write(chunk);
        });
      }
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Close the listener and cut every relayed connection: the server looks dead (connections are refused). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A loopback TCP port that was free a moment ago (for servers that cannot be told to take port 0). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}
