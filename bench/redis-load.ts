/**
 * The bare-client side of the redis bench row: one ioredis client (auto-pipelining: a turn's GETs in one
 * write, as the redis module sends them) keeping the same number of GETs in flight as the load generator
 * keeps lookups on smapd, over the same keys in random order. What smapd+redis is compared with: the same
 * lookups without smapd in between, through the usual Node client (issue 12).
 */
import { Redis } from 'ioredis';
import { runClosedLoop } from './direct-loop.js';
import type { LoadResult } from './loadgen.js';

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

export async function runRedisLoad(opts: RedisLoadOptions): Promise<LoadResult> {
  const client = new Redis({ host: opts.host, port: opts.port, enableAutoPipelining: true, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  await client.ping();
  try {
    // Every key asked was stored: a miss is an error here, as in the smapd runs.
    return await runClosedLoop(
      { callers: opts.concurrency, seconds: opts.seconds, warmupSeconds: opts.warmupSeconds, keysFile: opts.keysFile },
      async (key) => (await client.get(opts.keyPrefix + key)) !== null,
    );
  } finally {
    client.disconnect();
  }
}
