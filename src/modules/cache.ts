/**
 * A per-database result cache: LRU, bounded in entries and in bytes, with separate lifetimes for positive
 * (`OK`) and negative (`NOTFOUND`/`NOMORE`) answers. Failures (`TEMP`, `TIMEOUT`, `PERM`) are never cached.
 * Entries are keyed by map and key, plus whichever connection facts the database's answers depend on
 * (`SmapModule.answerDependsOn`), so a database that answers per client never hands one client's answer
 * to another.
 */
import type { Reply } from '../protocol/reply.js';
import type { CacheDecl } from '../config/types.js';
import type { ClientField, ConnInfo } from './api.js';

interface Entry {
  reply: Reply;
  expires: number;
  bytes: number;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
  readonly evictions: number;
}

/** Rough per-entry overhead of the Map slot and entry object, so `bytes` bounds real memory. */
const ENTRY_OVERHEAD = 64;

export class ResultCache {
  private readonly map = new Map<string, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /**
   * The entry key of a lookup: the length of the map name, `:`, the map name, then each connection fact the
   * answers depend on and a NUL after it, then the key. Map names and keys may hold any byte, NUL included
   * (src/protocol/bytes.ts), so a plain separator would let two different lookups share an entry (map `a\0b`
   * key `c`, map `a` key `b\0c`); the length fixes where the map name ends, and the facts (addresses, socket
   * paths, server ids) never hold a NUL.
   */
  private readonly keyOf: (mapName: string, key: string, conn: ConnInfo) => string;

  constructor(
    private readonly decl: CacheDecl,
    dependsOn: readonly ClientField[] = [],
  ) {
    const fields = [...new Set(dependsOn)];
    this.keyOf =
      fields.length === 0
        ? (mapName, key) => mapName.length + ':' + mapName + key
        : (mapName, key, conn) => {
            let k = mapName.length + ':' + mapName;
            for (const f of fields) k += conn[f] + '\0';
            return k + key;
          };
  }

  get(mapName: string, key: string, conn: ConnInfo): Reply | undefined {
    const k = this.keyOf(mapName, key, conn);
    const e = this.map.get(k);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.expires < Date.now()) {
      this.drop(k, e);
      this.misses++;
      return undefined;
    }
    // Move to the young end: Map keeps insertion order, so the first key is the least recently used.
    this.map.delete(k);
    this.map.set(k, e);
    this.hits++;
    return e.reply;
  }

  set(mapName: string, key: string, conn: ConnInfo, reply: Reply): void {
    const ttl = reply.startsWith('OK ')
      ? this.decl.ttl
      : reply.startsWith('NOTFOUND') || reply.startsWith('NOMORE')
        ? this.decl.negativeTtl
        : 0;
    if (ttl <= 0) return;
    const k = this.keyOf(mapName, key, conn);
    const bytes = 2 * (k.length + reply.length) + ENTRY_OVERHEAD;
    if (bytes > this.decl.bytes) return;
    const old = this.map.get(k);
    if (old !== undefined) this.drop(k, old);
    this.map.set(k, { reply, expires: Date.now() + ttl, bytes });
    this.bytes += bytes;
    while (this.map.size > this.decl.size || this.bytes > this.decl.bytes) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.drop(oldest.value, this.map.get(oldest.value)!);
      this.evictions++;
    }
  }

  /** Forget everything (the control socket's `flush`). */
  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.map.size, bytes: this.bytes, evictions: this.evictions };
  }

  private drop(k: string, e: Entry): void {
    this.map.delete(k);
    this.bytes -= e.bytes;
  }
}
