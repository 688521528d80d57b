/**
 * One `memory` database: its table, its replies, and the life of its snapshot file (load at open, write
 * after changes and at close).
 *
 * A reload builds a new database while the old one still serves the connections accepted before it, and the
 * old one is closed only when the last of them ends. Both would write the same snapshot file, and the old one
 * would overwrite what the new one was told since. So at open the new instance takes the file over: the old
 * one saves what it has, stops writing for good, and only then is the file read.
 */
import type { Logger } from 'pino';
import { BackendError } from '../../src/modules/api.js';
import type { ReplyTemplate } from '../../src/modules/api.js';
import { checkWritableDir, readSnapshot } from './snapshot.js';
import { BindingTable } from './table.js';
import { SnapshotWriter } from './writer.js';

/**
 * Which database instance owns each snapshot file, by absolute path. Process-wide on purpose: the instances
 * that must hand a file over belong to different configurations (runtimes) and know nothing of each other.
 * The module is single-process (`multiProcess: false`), so this process is the only writer.
 */
const owners = new Map<string, MemoryDb>();

export interface MemoryDbSettings {
  readonly id: string;
  readonly capacity: number;
  readonly foldCase: boolean;
  /** Absolute path of the snapshot file, if any. */
  readonly snapshot: string | undefined;
  readonly positive: ReplyTemplate;
  readonly negative: ReplyTemplate;
  readonly log: Logger;
  /** Debounce delay for snapshot writes (tests shorten it). */
  readonly writeDelayMs?: number;
}

export class MemoryDb {
  readonly id: string;
  readonly table: BindingTable;
  readonly positive: ReplyTemplate;
  readonly negative: ReplyTemplate;
  readonly writer: SnapshotWriter | undefined;
  private readonly log: Logger;

  constructor(s: MemoryDbSettings) {
    this.id = s.id;
    this.table = new BindingTable(s.capacity, s.foldCase);
    this.positive = s.positive;
    this.negative = s.negative;
    this.log = s.log;
    this.writer =
      s.snapshot === undefined ? undefined : new SnapshotWriter(s.snapshot, () => this.table.entries(), s.log, s.writeDelayMs);
  }

  /** The table changed: schedule a snapshot write. */
  changed(): void {
    this.writer?.changed();
  }

  async open(): Promise<void> {
    const w = this.writer;
    if (w === undefined) return;
    const previous = owners.get(w.file);
    if (previous !== undefined && previous !== this) {
      try {
        await previous.writer!.flush();
      } catch (err) {
        // The old instance still holds the data in memory; reading the stale file now would lose its changes.
        throw new BackendError(
          `cannot take over ${w.file} from the previous configuration, which failed to save it: ${(err as Error).message}`,
        );
      }
      previous.writer!.release();
      owners.delete(w.file);
    }
    // Any failure refuses the open rather than starting empty: the next write would replace the file and
    // lose the data in it.
    await attempt(() => checkWritableDir(w.file), '');
    const snap = await attempt(() => readSnapshot(w.file), 'cannot read snapshot: ');
    await attempt(() => this.table.load(snap.bindings, (i) => (i < 0 ? w.file : `${w.file}:${snap.lines[i]}`)), '');
    owners.set(w.file, this);
    this.log.info({ file: w.file, bindings: this.table.size }, 'memory: snapshot loaded');
  }

  async close(): Promise<void> {
    const w = this.writer;
    if (w === undefined || owners.get(w.file) !== this) return;
    try {
      await w.flush();
    } finally {
      w.release();
      owners.delete(w.file);
    }
  }
}

async function attempt<T>(step: () => T | Promise<T>, prefix: string): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw new BackendError(prefix + (err as Error).message, { cause: err });
  }
}
