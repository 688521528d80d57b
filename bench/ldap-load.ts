/**
 * The bare-client side of the ldap bench row: one ldapts client, bound as the same reader, keeping the same
 * number of searches in flight on its one connection as the load generator keeps lookups on smapd (the ldap
 * module multiplexes every lookup of a database on one connection too), with the same filter, base,
 * attribute and size limit, over the same keys in random order.
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'ldapts';
import { Histogram } from './histogram.js';
import type { LoadResult } from './loadgen.js';
import { readKeys, seededRandom } from './requests.js';

export interface LdapLoadOptions {
  readonly url: string;
  readonly bindDn: string;
  readonly bindPassword: string;
  readonly base: string;
  /** The attribute that holds the key (the filter is `(ATTR=key)`). */
  readonly keyAttribute: string;
  /** The attribute read back (what smapd's positive reply uses). */
  readonly valueAttribute: string;
  /** Searches in flight at once. */
  readonly concurrency: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** A `key value` text map; its keys are what gets searched. */
  readonly keysFile: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runLdapLoad(opts: LdapLoadOptions, seed = 1): Promise<LoadResult> {
  const keys = readKeys(opts.keysFile);
  const random = seededRandom(seed);
  const order = Array.from({ length: 1 << 16 }, () => keys[Math.floor(random() * keys.length)]!);
  const client = new Client({ url: opts.url, timeout: 10000, connectTimeout: 5000 });
  await client.bind(opts.bindDn, opts.bindPassword);
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
        const r = await client.search(opts.base, { scope: 'sub', filter: `(${opts.keyAttribute}=${key})`, attributes: [opts.valueAttribute], sizeLimit: 1 });
        if (r.searchEntries[0]?.[opts.valueAttribute] === undefined) notFound++;
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
  await client.unbind().catch(() => undefined);
  // Every key asked is in the directory: a miss is an error here, as in the smapd runs.
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
