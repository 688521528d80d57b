/**
 * Connection churn: clients that connect, ask one question and hang up, as Postfix's short-lived processes
 * do when no proxymap sits in between. Connections are opened on a fixed schedule (open loop), so a server
 * that falls behind shows up as a lower achieved rate and a growing latency rather than as a slower client.
 * The latency of one connection runs from the connect call to its reply, handshake included.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Histogram, type HistogramData } from './histogram.js';
import { ReplyKind, ReplyParser } from './reply-parser.js';
import { buildStream, readKeys } from './requests.js';

export interface ChurnOptions {
  readonly host: string;
  readonly port: number;
  /** New connections per second. */
  readonly rate: number;
  /** How many connections in all. */
  readonly total: number;
  /** Connections open at once at most; the schedule waits beyond this rather than pile up sockets. */
  readonly maxOpen: number;
  readonly map: string;
  readonly keysFile: string;
  readonly notFoundIsOk: boolean;
}

export interface ChurnResult {
  readonly connections: number;
  readonly seconds: number;
  /** Completed connections per second, over the whole run. */
  readonly rate: number;
  readonly latency: HistogramData;
  readonly errors: number;
  readonly sample: string | undefined;
}

/** A connection that has not answered within this is counted as an error. */
const CONNECTION_TIMEOUT_MS = 10_000;

export async function runChurn(opts: ChurnOptions, seed = 2): Promise<ChurnResult> {
  const stream = buildStream(opts.map, readKeys(opts.keysFile), Math.min(opts.total, 1 << 16), seed);
  const hist = new Histogram();
  let started = 0;
  let finished = 0;
  let open = 0;
  let errors = 0;
  let sample: string | undefined;
  const t0 = performance.now();
  let last = t0;

  return new Promise<ChurnResult>((resolve) => {
    const done = () => {
      const seconds = (last - t0) / 1000;
      resolve({ connections: finished, seconds, rate: finished / seconds, latency: hist.toData(), errors, sample });
    };

    const one = (index: number) => {
      const begin = performance.now();
      const parser = new ReplyParser();
      let answered = false;
      let failed = false;
      open++;
      const fail = (why: string) => {
        if (answered || failed) return;
        failed = true;
        errors++;
        sample ??= why;
      };
      const s = net.connect({ host: opts.host, port: opts.port });
      s.setNoDelay(true);
      s.setTimeout(CONNECTION_TIMEOUT_MS, () => {
        fail('timed out');
        s.destroy();
      });
      s.on('connect', () => {
        const i = index % stream.count;
        s.write(stream.buf.subarray(stream.offsets[i]!, stream.offsets[i + 1]!));
      });
      s.on('data', (chunk: Buffer) => {
        const ok = parser.push(chunk, (kind) => {
          if (answered) return;
          answered = true;
          hist.record(performance.now() - begin);
          if (kind === ReplyKind.Other || (kind === ReplyKind.NotFound && !opts.notFoundIsOk)) {
            errors++;
            sample ??= parser.sample ?? 'unexpected reply';
          }
          s.end();
        });
        if (!ok) {
          fail(`protocol: ${parser.broken}`);
          s.destroy();
        }
      });
      s.on('error', (err) => fail(err.message));
      s.on('close', () => {
        if (!answered) fail('closed before the reply');
        open--;
        finished++;
        last = performance.now();
        if (finished === opts.total) done();
        else pump();
      });
    };

    // Start every connection that is due by now; a 1 ms timer keeps the schedule without a busy loop.
    let timer: NodeJS.Timeout | undefined;
    function pump(): void {
      const due = Math.min(opts.total, Math.floor(((performance.now() - t0) * opts.rate) / 1000) + 1);
      while (started < due && open < opts.maxOpen) one(started++);
      if (started < opts.total && timer === undefined) {
        timer = setTimeout(() => {
          timer = undefined;
          pump();
        }, 1);
      }
    }
    pump();
  });
}
