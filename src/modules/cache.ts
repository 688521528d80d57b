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
import { ADMISSION_WINDOW, AdmissionSampler } from './cache-admission.js';

/**
 * One cached answer, also a link of the recency list. The list is threaded through the entries themselves
 * so that a hit moves its entry in O(1) without touching the Map, and eviction takes the tail in O(1). (The
 * Map's own insertion order served as the list before: a hit was a delete and a set, and eviction read the
 * first key through a fresh iterator, which walks over every deleted slot left at the front of the table; on
 * a full cache that walk grew with the churn, and CPU per request went from 20 to ~100 µs.)
 */
class Entry {
  /** Towards the most recently used end; null at the head. */
  newer: Entry | null = null;
  /** Towards the least recently used end; null at the tail. */
  older: Entry | null = null;

  constructor(
    readonly key: string,
    public reply: Reply,
    public expires: number,
    public bytes: number,
  ) {}
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
  readonly evictions: number;
  /** Misses whose answer got an entry. */
  readonly admitted: number;
  /** Misses whose answer was not kept: the cache was full and its hit ratio low (cache-admission.ts). */
  readonly declined: number;
  /** The admission sample: one miss in this many gets an entry while the cache is full (1 = all). */
  readonly admitOneIn: number;
}

/** Rough per-entry overhead of the Map slot and entry object, so `bytes` bounds real memory. */
const ENTRY_OVERHEAD = 64;

export class ResultCache {
  private readonly map = new Map<string, Entry>();
  /** Most recently used entry. */
  private head: Entry | null = null;
  /** Least recently used entry: the next to go. */
  private tail: Entry | null = null;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private readonly admission = new AdmissionSampler();
  /** Lookups left in the admission policy's current window. */
  private untilWindowEnds = ADMISSION_WINDOW;
  /**
   * The entry key built by the last `get` that missed, with the arguments it was built from: the `set` that
   * follows a miss (same strings, same connection) reuses it instead of building and hashing it again.
   */
  private missKey = '';
  private missMap = '';
  private missArg = '';
  private missConn: ConnInfo | null = null;
  /** The `length:name` prefix of the last map name seen: map names repeat, so it is built once per name. */
  private prefixMap = '';
  private prefix = '0:';

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
        ? (mapName, key) => this.prefixOf(mapName) + key
        : (mapName, key, conn) => {
            let k = this.prefixOf(mapName);
            for (const f of fields) k += conn[f] + '\0';
            return k + key;
          };
  }

  get(mapName: string, key: string, conn: ConnInfo): Reply | undefined {
    if (--this.untilWindowEnds === 0) {
      this.untilWindowEnds = ADMISSION_WINDOW;
      this.admission.windowEnded(this.hits, this.hits + this.misses);
    }
    const k = this.keyOf(mapName, key, conn);
    const e = this.map.get(k);
    if (e === undefined) {
      this.missed(k, mapName, key, conn);
      return undefined;
    }
    if (e.expires < Date.now()) {
      this.drop(k, e);
      this.missed(k, mapName, key, conn);
      return undefined;
    }
    if (e !== this.head) {
      this.unlink(e);
      this.pushHead(e);
    }
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
    const reuse = key === this.missArg && mapName === this.missMap && conn === this.missConn;
    const k = reuse ? this.missKey : this.keyOf(mapName, key, conn);
    const bytes = 2 * (k.length + reply.length) + ENTRY_OVERHEAD;
    if (bytes > this.decl.bytes) return;
    const old = this.map.get(k);
    if (old !== undefined) {
      // Reuse the entry (a concurrent miss answered twice): no new object, and the Map keeps its slot.
      this.bytes += bytes - old.bytes;
      old.reply = reply;
      old.expires = Date.now() + ttl;
      old.bytes = bytes;
      if (old !== this.head) {
        this.unlink(old);
        this.pushHead(old);
      }
    } else {
      // A new key in a full cache costs an eviction: the admission policy weighs it (cache-admission.ts).
      const full = this.map.size >= this.decl.size || this.bytes + bytes > this.decl.bytes;
      if (!this.admission.admit(full)) return;
      const e = new Entry(k, reply, Date.now() + ttl, bytes);
      this.map.set(k, e);
      this.pushHead(e);
      this.bytes += bytes;
    }
    while (this.map.size > this.decl.size || this.bytes > this.decl.bytes) {
      const oldest = this.tail;
      if (oldest === null) break;
      this.drop(oldest.key, oldest);
      this.evictions++;
    }
  }

  /** Forget everything (the control socket's `flush`). */
  clear(): void {
    this.map.clear();
    this.head = null;
    this.tail = null;
    this.bytes = 0;
    this.missConn = null;
    this.admission.reset(this.hits, this.hits + this.misses);
    this.untilWindowEnds = ADMISSION_WINDOW;
  }

  stats(): CacheStats {
    const a = this.admission;
    return {
      hits: this.hits,
      misses: this.misses,
      entries: this.map.size,
      bytes: this.bytes,
      evictions: this.evictions,
      admitted: a.admitted,
      declined: a.declined,
      admitOneIn: a.admitOneIn,
    };
  }

  /**
   * The entries from most to least recently used (tests: the order eviction follows).
   */
  *keysByRecency(): IterableIterator<string> {
    for (let e = this.head; e !== null; e = e.older) yield e.key;
  }

  private missed(k: string, mapName: string, key: string, conn: ConnInfo): void {
    this.misses++;
    this.missKey = k;
    this.missMap = mapName;
    this.missArg = key;
    this.missConn = conn;
  }

  private prefixOf(mapName: string): string {
    if (mapName !== this.prefixMap) {
      this.prefixMap = mapName;
      this.prefix = mapName.length + ':' + mapName;
    }
    return this.prefix;
  }

  private drop(k: string, e: Entry): void {
    this.map.delete(k);
    this.unlink(e);
    this.bytes -= e.bytes;
  }

  private pushHead(e: Entry): void {
    e.newer = null;
    e.older = this.head;
    if (this.head !== null) this.head.newer = e;
    this.head = e;
    if (this.tail === null) this.tail = e;
  }

  private unlink(e: Entry): void {
    if (e.newer !== null) e.newer.older = e.older;
    else if (this.head === e) this.head = e.older;
    if (e.older !== null) e.older.newer = e.newer;
    else if (this.tail === e) this.tail = e.newer;
    e.newer = null;
    e.older = null;
  }
}
