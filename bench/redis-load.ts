/**
 * The bare-client side of the redis bench row: one ioredis client (auto-pipelining, as the redis module uses
 * it) keeping the same number of GETs in flight as the load generator keeps lookups on smapd, over the same
 * keys in random order. What smapd+redis is compared with: the same lookups without smapd in between.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Histogram } from './histogram.js';
import type { LoadResult } from './loadgen.js';
import { readKeys, seededRandom } from './requests.js';

export interface RedisLoadOptions {
  readonly host: string;
  readonly port: number;
  /** GETs in flight at once. */
  readonly concurrency: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** A `key value` text map; its keys, with the prefix, are what gets read. */
  readonly keysFile: string;
  readonly keyPrefix: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runRedisLoad(opts: RedisLoadOptions, seed = 1): Promise<LoadResult> {
  const keys = readKeys(opts.keysFile).map((k) => opts.keyPrefix + k);
  const random = seededRandom(seed);
  const order = Array.from({ length: 1 << 16 }, () => keys[Math.floor(random() * keys.length)]!);
  const client = new Redis({ host: opts.host, port: opts.port, enableAutoPipelining: true, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  await client.ping();
  const hist = new Histogram();
  let running = true;
  let measuring = false;
  let inWindow = 0;
  let ok = 0;
  let notFound = 0;
  let errors = 0;
  let sample: string | undefined;
  let next = 0;

  const loop = async (): Promise<void> => {
    while (running) {
      const key = order[next++ & (order.length - 1)]!;
      const t0 = performance.now();
      try {
        if ((await client.get(key)) === null) notFound++;
        else ok++;
      } catch (err) {
        errors++;
        sample ??= (err as Error).message;
      }
      if (measuring) {
        hist.record(performance.now() - t0);
        inWindow++;
      }
    }
  };
  const loops = Array.from({ length: opts.concurrency }, () => loop());
  await sleep(opts.warmupSeconds * 1000);
  measuring = true;
  const t0 = performance.now();
  await sleep(opts.seconds * 1000);
  measuring = false;
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  await Promise.all(loops);
  client.disconnect();
  // Every key asked is in Redis: a NOTFOUND is an error here, as in the smapd runs.
  return {
    requests: inWindow,
    answered: ok + notFound + errors,
    seconds: elapsed,
    rps: inWindow / elapsed,
    latency: hist.toData(),
    ok,
    notFound,
    errors: errors + notFound,
    connErrors: 0,
    sample: sample ?? (notFound > 0 ? `${notFound} keys not found` : undefined),
  };
}
