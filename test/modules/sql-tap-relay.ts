/**
 * A TCP relay for the SQL pool tests that also reads what clients send: it counts the connections made
 * through it and how often a marker (a comment in the query text) went to the server. The query text travels
 * only when a statement is prepared (MySQL's COM_STMT_PREPARE, PostgreSQL's Parse); executing a prepared
 * statement sends its id or name and the values. So the marker count is the number of prepares.
 */
import net from 'node:net';

export class TapRelay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** Connections accepted. */
  accepted = 0;
  /** Times the marker went from a client to the server. */
  sent = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost: string,
    private readonly marker: Buffer,
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
      // The marker may straddle two chunks: keep the last bytes of the previous one in front of the next.
      let tail = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        const seen = Buffer.concat([tail, chunk]);
        for (let at = seen.indexOf(this.marker); at >= 0; at = seen.indexOf(this.marker, at + this.marker.length)) this.sent++;
        tail = seen.subarray(Math.max(0, seen.length - this.marker.length + 1));
        upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
