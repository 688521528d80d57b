/**
 * Loads a text map file into a `CompactTable` (src/maps/compact-table.ts), reading it through one open file handle so that what is parsed is the
 * file that was stat'ed, and noticing a file that is being written while it is read.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { CompactTableBuilder, streamTextMap, type CompactTable, type TextMapOptions } from '../../src/modules/api.js';

/** What identifies one version of the file: a rename-replace changes the inode, an in-place write the rest. */
export interface FileSignature {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export function signatureOf(st: Stats): FileSignature {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

export function sameSignature(a: FileSignature | null, b: FileSignature | null): boolean {
  if (a === null || b === null) return a === b;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export interface LoadedMap {
  /** Stored key → stored string (a raw value or a ready reply, as `store` made it). */
  readonly entries: CompactTable;
  readonly signature: FileSignature;
  readonly lines: number;
  readonly duplicates: number;
  /** The first key that appeared again, and the line of its second appearance. */
  readonly firstDuplicate: { readonly key: string; readonly line: number } | null;
  readonly millis: number;
}

/** Thrown when the file changed while it was read; the caller tries again later. */
export class FileChangedWhileReading extends Error {
  constructor(file: string) {
    super(`${file} changed while it was being read`);
    this.name = 'FileChangedWhileReading';
  }
}

export interface LoadOptions extends TextMapOptions {
  /** Turns a parsed entry into what the map stores for it. */
  readonly store: (key: string, value: string) => string;
}

/**
 * Parsing runs on the event loop, between lookups, one chunk at a time, and gives the loop a turn after each
 * chunk (a buffered chunk can follow the last one without one): 64 KiB is about 1,000–1,500 lines and 2–3 ms of
 * parsing, where a 1 MiB chunk held the loop for 30–100 ms and a reload of a 1M-line map stalled every lookup
 * (docs/performance.md). A turn costs microseconds; a 60 MB map takes about a thousand. The table being built
 * is two typed arrays, not a million heap objects, so the collector has nothing to mark between slices.
 */
const READ_CHUNK = 64 << 10;

/** Resolves on the next turn of the event loop, after pending I/O callbacks: lookups waiting run first. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Read and parse the whole file. Throws `TextMapSyntaxError`, a file system error, or `FileChangedWhileReading`. */
export async function loadMapFile(file: string, options: LoadOptions): Promise<LoadedMap> {
  const started = performance.now();
  const fh: FileHandle = await open(file, 'r');
  try {
    const before = await fh.stat();
    if (!before.isFile()) throw new Error(`${file} is not a regular file`);
    const entries = new CompactTableBuilder();
    let duplicates = 0;
    let firstDuplicate: LoadedMap['firstDuplicate'] = null;
    const store = options.store;
    const lines = await streamTextMap(
      fh.createReadStream({ highWaterMark: READ_CHUNK, autoClose: false, start: 0 }),
      file,
      (key, value, line) => {
        // Last one wins, as a later line in a config file overrides an earlier one; counted for a warning.
        if (entries.set(key, store(key, value))) {
          duplicates++;
          if (firstDuplicate === null) firstDuplicate = { key, line };
        }
      },
      {
        ...options,
        afterChunk: nextTurn,
      },
    );
    const after = await fh.stat();
    if (!sameSignature(signatureOf(before), signatureOf(after))) throw new FileChangedWhileReading(file);
    return {
      entries: entries.finish(),
      signature: signatureOf(before),
      lines,
      duplicates,
      firstDuplicate,
      millis: Math.round(performance.now() - started),
    };
  } finally {
    await fh.close();
  }
}
