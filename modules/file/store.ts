/**
 * The live map of one `file` database: loaded on open, then watched by a periodic stat (fs.watch misses
 * editors that write a new file and rename it over the old one). A changed file is parsed completely into a
 * new table, which replaces the old one in a single assignment; a new file that does not parse leaves the old
 * map serving and is reported once per version of the file.
 *
 * A reload of the config builds a new store for each `file` database. The same holds across it: when the
 * new store cannot load its file (removed, unreadable, broken), it serves the map that the store of the
 * same file and options had loaded, logs why, and loads the file once it is good again. Without that, a
 * reload would turn a map that answered a moment ago into `TEMP` for every lookup.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { BackendError, type CompactTable } from '../../src/modules/api.js';
import {
  FileChangedWhileReading,
  loadMapFile,
  sameSignature,
  signatureOf,
  type FileSignature,
  type LoadedMap,
  type LoadOptions,
} from './load.js';

/** The outcome of one change check, for logs and tests. */
export type CheckResult = 'unchanged' | 'reloaded' | 'failed' | 'changing' | 'closed';

/** How many times `open` rereads a file that changes under it before giving up. */
const OPEN_ATTEMPTS = 5;

/**
 * The store that last loaded the map of each identity (file and options), while it is open, so the store a
 * reload makes can take its data over. Closed stores leave it.
 */
const loadedStores = new Map<string, FileMapStore>();

/** A map and the version of the file it was read from. */
interface Snapshot {
  readonly entries: CompactTable;
  readonly signature: FileSignature | null;
}

function reason(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export class FileMapStore {
  /** The current map; replaced whole, never mutated, so a lookup sees one version. Null until opened. */
  entries: CompactTable | null = null;
  private signature: FileSignature | null = null;
  /** The version of the file that last failed, so the same broken file is not reparsed and logged again. */
  private failedSignature: FileSignature | 'missing' | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<CheckResult> | null = null;
  private opening: Promise<void> | null = null;
  /** The store of the same identity that served when this one was made (a config reload), until it opens. */
  private predecessor: FileMapStore | null;
  /** What this store served when it was closed, for a successor that opens later. */
  private lastServed: Snapshot | null = null;

  constructor(
    readonly file: string,
    private readonly loadOptions: LoadOptions,
    private readonly reloadMs: number,
    private readonly log: Logger,
    /** Called after a reload swapped in new data, so cached answers are dropped. */
    private readonly onChange: () => void = () => undefined,
    /**
     * What must be equal for two stores to serve the same map (the file and every option that shapes the
     * stored values); undefined: never take over another store's map.
     */
    private readonly identity?: string,
  ) {
    this.predecessor = identity === undefined ? null : (loadedStores.get(identity) ?? null);
  }

  get isOpen(): boolean {
    return this.entries !== null;
  }

  /** Load the file (once; concurrent callers share the load). Throws `BackendError` if it cannot be used. */
  open(): Promise<void> {
    if (this.entries !== null) return Promise.resolve();
    this.opening ??= this.firstLoad().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async firstLoad(): Promise<void> {
    let loaded: LoadedMap | null = null;
    for (let attempt = 1; loaded === null; attempt++) {
      try {
        loaded = await loadMapFile(this.file, this.loadOptions);
      } catch (err) {
        if (err instanceof FileChangedWhileReading && attempt < OPEN_ATTEMPTS) continue;
        const kept = this.takeOver();
        if (kept === null) {
          this.predecessor = null;
          throw new BackendError(`cannot load map: ${reason(err)}`, { cause: err });
        }
        await this.serveKept(kept, err);
        break;
      }
    }
    this.predecessor = null;
    if (loaded !== null) this.install(loaded, 'loaded');
    if (this.reloadMs > 0 && this.timer === null) {
      this.timer = setInterval(() => void this.checkNow(), this.reloadMs);
      // The watch must never keep the process alive on its own.
      this.timer.unref();
    }
  }

  /** The map the predecessor serves now, or served when it was closed; null when there is none. */
  private takeOver(): Snapshot | null {
    const p = this.predecessor;
    if (p === null) return null;
    if (p.entries !== null) return { entries: p.entries, signature: p.signature };
    return p.lastServed;
  }

  /**
   * Serve the predecessor's map because the file cannot be loaded; the watch loads the file once it can be
   * read and parsed (a missing file is logged again only when it comes back, a broken one when it changes).
   */
  private async serveKept(kept: Snapshot, err: unknown): Promise<void> {
    let failed: FileSignature | 'missing' | null;
    try {
      const current = signatureOf(await stat(this.file));
      // The version that failed; when it equals the kept one (a file read fine before), try it again later.
      failed = sameSignature(current, kept.signature) ? null : current;
    } catch {
      failed = 'missing';
    }
    this.entries = kept.entries;
    this.signature = kept.signature;
    this.failedSignature = failed;
    this.lastServed = null;
    this.register();
    this.log.error(
      { file: this.file, err: reason(err) },
      `cannot load map file after the configuration reload; keeping the ${kept.entries.size} entries loaded before it`,
    );
  }

  private register(): void {
    if (this.identity !== undefined) loadedStores.set(this.identity, this);
  }

  /** Stat the file now and reload it if it changed. Concurrent calls share one check. */
  checkNow(): Promise<CheckResult> {
    this.checking ??= this.check().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async check(): Promise<CheckResult> {
    if (this.entries === null) return 'closed';
    let current: FileSignature;
    try {
      current = signatureOf(await stat(this.file));
    } catch (err) {
      // closeDb may have run while stat was waiting.
      if (this.entries === null) return 'closed';
      if (this.failedSignature !== 'missing') {
        this.failedSignature = 'missing';
        const kept = this.entries.size;
        this.log.error({ file: this.file, err: reason(err) }, `cannot stat map file; keeping the ${kept} entries loaded`);
      }
      return 'failed';
    }
    if (this.failedSignature === 'missing') {
      this.failedSignature = null;
      this.log.info({ file: this.file }, 'map file is readable again');
    }
    if (sameSignature(current, this.signature)) return 'unchanged';
    if (sameSignature(current, this.failedSignature as FileSignature | null)) return 'failed';

    let loaded: LoadedMap;
    try {
      loaded = await loadMapFile(this.file, this.loadOptions);
    } catch (err) {
      // A half-written file is retried at the next check, without noise.
      if (err instanceof FileChangedWhileReading) return 'changing';
      this.failedSignature = current;
      const kept = this.entries?.size ?? 0;
      this.log.error({ file: this.file, err: reason(err) }, `map file not reloaded, keeping the ${kept} entries loaded`);
      return 'failed';
    }
    // closeDb may have run while the file was being read.
    if (this.entries === null) return 'closed';
    this.install(loaded, 'reloaded');
    this.onChange();
    return 'reloaded';
  }

  private install(loaded: LoadedMap, what: 'loaded' | 'reloaded'): void {
    this.entries = loaded.entries;
    this.signature = loaded.signature;
    this.failedSignature = null;
    this.lastServed = null;
    this.register();
    this.log.info({ file: this.file, entries: loaded.entries.size, lines: loaded.lines, ms: loaded.millis }, `map file ${what}`);
    if (loaded.duplicates > 0 && loaded.firstDuplicate !== null) {
      const d = loaded.firstDuplicate;
      this.log.warn(
        { file: this.file, duplicates: loaded.duplicates },
        `${loaded.duplicates} duplicate key(s), the last one wins (first: '${d.key}' at ${this.file}:${d.line})`,
      );
    }
  }

  /** Stop watching and drop the map. A later `open` loads the file again. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    // A successor made before this close may open after it; the snapshot lives as long as that successor
    // holds this store (until it opens or closes), no longer.
    this.lastServed = this.entries === null ? null : { entries: this.entries, signature: this.signature };
    if (this.identity !== undefined && loadedStores.get(this.identity) === this) loadedStores.delete(this.identity);
    this.predecessor = null;
    this.entries = null;
    this.signature = null;
    this.failedSignature = null;
  }
}
