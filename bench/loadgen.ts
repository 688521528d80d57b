/**
 * The closed-loop load generator: N connections, each keeping D requests in flight for a fixed time. Every
 * reply that comes back lets its connection send one more, and the replies of one chunk are replaced by one
 * write, so at depth D > 1 the server sees pipelined batches as a busy Postfix would send them. Requests are
 * pre-encoded (requests.ts), replies are scanned without making strings (reply-parser.ts), and latencies go
 * into a preallocated histogram, so the client costs the server as little CPU as it can.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Histogram, type HistogramData } from './histogram.js';
import { ReplyKind, ReplyParser } from './reply-parser.js';
import { buildStream, readKeys, type RequestStream } from './requests.js';

export interface LoadOptions {
  readonly host: string;
  readonly port: number;
  readonly connections: number;
  /** Requests in flight per connection. */
  readonly depth: number;
  /** Length of the measured window. */
  readonly seconds: number;
  /** Load before the window opens (JIT warm-up, connection set-up); not counted. */
  readonly warmupSeconds: number;
  /** Stop sending after this many requests in all (warm-up included); 0 = no cap. */
  readonly maxRequests: number;
  readonly map: string;
  /** A `key value` text map; its keys are what gets asked. */
  readonly keysFile: string;
  /** True when `NOTFOUND` is a normal answer; otherwise only `OK` is. */
  readonly notFoundIsOk: boolean;
  /** Draw the keys by Zipf's law with this exponent (requests.ts) instead of uniformly. */
  readonly zipf?: number;
}

export interface LoadResult {
  /** Replies received inside the measured window. */
  readonly requests: number;
  /** Replies received in all, warm-up and drain included: the divisor for the server's CPU time. */
  readonly answered: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latency: HistogramData;
  readonly ok: number;
  readonly notFound: number;
  /** Unexpected replies, requests never answered, and connection failures. */
  readonly errors: number;
  readonly connErrors: number;
  readonly sample: string | undefined;
}

/** How long to wait for the answers still in flight when the window closes. */
const DRAIN_MS = 5000;
/** Enough distinct requests that no two connections repeat each other's order. */
const STREAM_LENGTH = 1 << 16;

/** The state all connections of one run share. */
class Run {
  running = true;
  measuring = false;
  budget: number;
  readonly hist = new Histogram();
  inWindow = 0;
  ok = 0;
  notFound = 0;
  other = 0;
  errors = 0;
  connErrors = 0;
  sample: string | undefined;

  constructor(
    readonly opts: LoadOptions,
    readonly stream: RequestStream,
  ) {
    this.budget = opts.maxRequests > 0 ? opts.maxRequests : Number.MAX_SAFE_INTEGER;
  }

  take(n: number): number {
    if (!this.running) return 0;
    const k = Math.min(n, this.budget);
    this.budget -= k;
    return k;
  }

  count(kind: ReplyKind, latencyMs: number): void {
    if (kind === ReplyKind.Ok) this.ok++;
    else if (kind === ReplyKind.NotFound) {
      this.notFound++;
      if (!this.opts.notFoundIsOk) this.errors++;
    } else {
      this.other++;
      this.errors++;
    }
    if (this.measuring) {
      this.inWindow++;
      this.hist.record(latencyMs);
    }
  }
}

class LoadConnection {
  /** Send times of the requests in flight, oldest at `head`; replies come back in request order. */
  private readonly sentAt: Float64Array;
  private head = 0;
  private inFlight = 0;
  private next: number;
  private now = 0;
  private answered = 0;
  private readonly parser = new ReplyParser();
  readonly closed: Promise<void>;

  constructor(
    private readonly run: Run,
    private readonly socket: ReadingSocket,
    start: number,
  ) {
    this.sentAt = new Float64Array(run.opts.depth);
    this.next = start;
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        if (this.inFlight > 0) run.errors += this.inFlight;
        if (run.running) run.connErrors++;
        if (this.parser.sample !== undefined) run.sample ??= this.parser.sample;
        this.inFlight = 0;
        resolve();
      });
    });
    socket.reader.onRead = this.onRead;
  }

  start(): void {
    this.send(this.run.opts.depth);
  }

  /** Called when the run stops: close now if nothing is in flight, else after the last answer. */
  stop(): void {
    if (this.inFlight === 0) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private send(wanted: number): void {
    const n = this.run.take(wanted);
    if (n === 0) return;
    const depth = this.sentAt.length;
    const t = performance.now();
    for (let k = 0; k < n; k++) this.sentAt[(this.head + this.inFlight + k) % depth] = t;
    this.inFlight += n;
    const { buf, offsets, count } = this.run.stream;
    const from = this.next;
    const to = from + n;
    if (to <= count) {
      this.socket.write(buf.subarray(offsets[from]!, offsets[to]!));
      this.next = to === count ? 0 : to;
    } else {
      // The batch wraps around the end of the sequence: two slices, still one packet.
      this.socket.cork();
      this.socket.write(buf.subarray(offsets[from]!, offsets[count]!));
      this.socket.write(buf.subarray(0, offsets[to - count]!));
      this.socket.uncork();
      this.next = to - count;
    }
  }

  private readonly onReply = (kind: ReplyKind): void => {
    if (this.inFlight === 0) {
      // An answer to nothing: the server is out of step with us.
      this.run.errors++;
      return;
    }
    const latency = this.now - this.sentAt[this.head]!;
    this.head = (this.head + 1) % this.sentAt.length;
    this.inFlight--;
    this.answered++;
    this.run.count(kind, latency);
  };

  private readonly onRead = (chunk: Buffer, n: number): void => {
    // Every reply in this chunk arrived at the same moment.
    this.now = performance.now();
    this.answered = 0;
    if (!this.parser.push(chunk, this.onReply, n)) {
      this.run.errors++;
      this.run.sample ??= `protocol: ${this.parser.broken}`;
      this.socket.destroy();
      return;
    }
    if (this.run.running) this.send(this.answered);
    else if (this.inFlight === 0) this.socket.end();
  };
}

/**
 * Where a socket's bytes go. Sockets read into one shared buffer (`onread`), so reading allocates nothing:
 * no Buffer per read for the garbage collector to sweep, which would otherwise pause the client for
 * about a millisecond every hundred milliseconds and show up in the server's tail latency. One buffer serves
 * every socket because each read is handled to its end before the next one is made.
 */
interface Reader {
  onRead: (chunk: Buffer, n: number) => void;
}
type ReadingSocket = net.Socket & { readonly reader: Reader };

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function connect(host: string, port: number): Promise<ReadingSocket | Error> {
  return new Promise((resolve) => {
    const reader: Reader = { onRead: () => undefined };
    const s = Object.assign(
      net.connect({ host, port, onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => (reader.onRead(buf as Buffer, n), true) } }),
      { reader },
    );
    s.setNoDelay(true);
    s.once('connect', () => {
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (err) => resolve(err));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run one closed-loop load and return its figures. Connection failures are counted, not thrown. */
export async function runLoad(opts: LoadOptions, seed = 1): Promise<LoadResult> {
  const stream = buildStream(opts.map, readKeys(opts.keysFile), STREAM_LENGTH, seed, opts.zipf);
  const run = new Run(opts, stream);
  const sockets = await Promise.all(Array.from({ length: opts.connections }, () => connect(opts.host, opts.port)));
  const conns: LoadConnection[] = [];
  for (let i = 0; i < sockets.length; i++) {
    const s = sockets[i]!;
    if (s instanceof Error) {
      run.connErrors++;
      run.sample ??= `connect: ${s.message}`;
      continue;
    }
    // Spread the starting points so the connections do not ask for the same keys in step.
    conns.push(new LoadConnection(run, s, Math.floor((i * STREAM_LENGTH) / sockets.length)));
  }
  for (const c of conns) c.start();

  await sleep(opts.warmupSeconds * 1000);
  run.measuring = true;
  const t0 = performance.now();
  await sleep(opts.seconds * 1000);
  run.measuring = false;
  run.running = false;
  const elapsed = (performance.now() - t0) / 1000;

  for (const c of conns) c.stop();
  const all = Promise.all(conns.map((c) => c.closed));
  if ((await Promise.race([all.then(() => 'done' as const), sleep(DRAIN_MS).then(() => 'late' as const)])) === 'late') {
    for (const c of conns) c.destroy();
    await all;
  }
  return {
    requests: run.inWindow,
    answered: run.ok + run.notFound + run.other,
    seconds: elapsed,
    rps: run.inWindow / elapsed,
    latency: run.hist.toData(),
    ok: run.ok,
    notFound: run.notFound,
    errors: run.errors + run.connErrors,
    connErrors: run.connErrors,
    sample: run.sample,
  };
}
