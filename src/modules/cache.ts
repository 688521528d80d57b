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
    readonly table: Table,
    /** The key within its table: the lookup's key, after the connection facts the answers depend on. */
    readonly key: string,
    public reply: Reply,
    public expires: number,
    public bytes: number,
  ) {}
}

/**
 * The entries of one map name. A table per map name, rather than one table keyed by map name and key
 * together, keeps two lookups of different maps apart whatever bytes their names and keys hold, and lets the
 * request's own key string be the Map key: no string is built per lookup, and the key's hash, computed once,
 * is kept in the string for the `set` that follows a miss. (A combined key cost a concatenation, its
 * flattening and a fresh hash on every lookup.)
 */
class Table {
  readonly entries = new Map<string, Entry>();
  /** What the map name adds to an entry's size: as in the key `length:name` it used to be part of. */
  readonly nameBytes: number;

  constructor(readonly name: string) {
    this.nameBytes = nameBytesOf(name);
  }
}

const nameBytesOf = (name: string): number => String(name.length).length + 1 + name.length;

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
  private readonly tables = new Map<string, Table>();
  /** The table of the last map name looked up: a connection asks one map again and again. */
  private lastTable: Table | undefined;
  private count = 0;
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
   * The key of a lookup within its map's table: the key itself, or, when the answers depend on connection
   * facts, each of those facts and a NUL after it, then the key. The facts (addresses, socket paths, server
   * ids) never hold a NUL, so where they end is never in doubt, whatever bytes the key holds.
   */
  private readonly keyOf: (key: string, conn: ConnInfo) => string;

  constructor(
    private readonly decl: CacheDecl,
    dependsOn: readonly ClientField[] = [],
  ) {
    const fields = [...new Set(dependsOn)];
    this.keyOf =
      fields.length === 0
        ? (key) => key
        : (key, conn) => {
            let k = '';
            for (const f of fields) k += conn[f] + '\0';
            return k + key;
          };
  }

  get(mapName: string, key: string, conn: ConnInfo): Reply | undefined {
    if (--this.untilWindowEnds === 0) {
      this.untilWindowEnds = ADMISSION_WINDOW;
      this.admission.windowEnded(this.hits, this.hits + this.misses);
    }
    const t = this.tableOf(mapName);
    const e = t === undefined ? undefined : t.entries.get(this.keyOf(key, conn));
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.expires < Date.now()) {
      this.drop(e);
      this.misses++;
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
    let t = this.tableOf(mapName);
    const k = this.keyOf(key, conn);
    const bytes = 2 * ((t === undefined ? nameBytesOf(mapName) : t.nameBytes) + k.length + reply.length) + ENTRY_OVERHEAD;
    if (bytes > this.decl.bytes) return;
    const old = t === undefined ? undefined : t.entries.get(k);
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
      const full = this.count >= this.decl.size || this.bytes + bytes > this.decl.bytes;
      if (!this.admission.admit(full)) return;
      if (t === undefined) {
        t = new Table(mapName);
        this.tables.set(mapName, t);
        this.lastTable = t;
      }
      const e = new Entry(t, k, reply, Date.now() + ttl, bytes);
      t.entries.set(k, e);
      this.count++;
      this.pushHead(e);
      this.bytes += bytes;
    }
    while (this.count > this.decl.size || this.bytes > this.decl.bytes) {
      const oldest = this.tail;
      if (oldest === null) break;
      this.drop(oldest);
      this.evictions++;
    }
  }

  /** Forget everything (the control socket's `flush`). */
  clear(): void {
    this.tables.clear();
    this.lastTable = undefined;
    this.count = 0;
    this.head = null;
    this.tail = null;
    this.bytes = 0;
    this.admission.reset(this.hits, this.hits + this.misses);
    this.untilWindowEnds = ADMISSION_WINDOW;
  }

  stats(): CacheStats {
    const a = this.admission;
    return {
      hits: this.hits,
      misses: this.misses,
      entries: this.count,
      bytes: this.bytes,
      evictions: this.evictions,
      admitted: a.admitted,
      declined: a.declined,
      admitOneIn: a.admitOneIn,
    };
  }

  /**
   * The entries from most to least recently used (tests: the order eviction follows), each as
   * `length:name` of its map, then its key within the map's table.
   */
  *keysByRecency(): IterableIterator<string> {
    for (let e = this.head; e !== null; e = e.older) yield e.table.name.length + ':' + e.table.name + e.key;
  }

  private tableOf(mapName: string): Table | undefined {
    const last = this.lastTable;
    if (last !== undefined && last.name === mapName) return last;
    const t = this.tables.get(mapName);
    if (t !== undefined) this.lastTable = t;
    return t;
  }

  private drop(e: Entry): void {
    const t = e.table;
    t.entries.delete(e.key);
    this.count--;
    this.unlink(e);
    this.bytes -= e.bytes;
    // Map names come from clients: a table left empty goes, so that names asked once do not pile up.
    if (t.entries.size === 0) {
      this.tables.delete(t.name);
      if (this.lastTable === t) this.lastTable = undefined;
    }
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
