/**
 * The bare-client side of the ldap bench row: one ldapts client, bound as the same reader, keeping the same
 * number of searches in flight on its one connection as the load generator keeps lookups on smapd (the ldap
 * module multiplexes every lookup of a database on one connection too), with the same filter, base,
 * attribute and size limit, over the same keys in random order.
 */
import { Client } from 'ldapts';
import { runClosedLoop } from './direct-loop.js';
import type { LoadResult } from './loadgen.js';

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

export async function runLdapLoad(opts: LdapLoadOptions): Promise<LoadResult> {
  const client = new Client({ url: opts.url, timeout: 10000, connectTimeout: 5000 });
  await client.bind(opts.bindDn, opts.bindPassword);
  try {
    // Every key asked is in the directory: a miss is an error here, as in the smapd runs.
    return await runClosedLoop({ callers: opts.concurrency, seconds: opts.seconds, warmupSeconds: opts.warmupSeconds, keysFile: opts.keysFile }, async (key) => {
      const r = await client.search(opts.base, { scope: 'sub', filter: `(${opts.keyAttribute}=${key})`, attributes: [opts.valueAttribute], sizeLimit: 1 });
      return r.searchEntries[0]?.[opts.valueAttribute] !== undefined;
    });
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
