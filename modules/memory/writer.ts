/**
 * Writes a memory database's snapshot after changes: coalesced (a burst of binds costs one write), never two
 * writes of the same file at once, retried after a failure, and flushed on demand (`save`, close, reload).
 */
import type { Logger } from 'pino';
import { formatSnapshot, writeSnapshotAtomically } from './snapshot.js';

/** How long changes collect before a write: short enough that a crash loses little, long enough to batch bursts. */
export const DEFAULT_WRITE_DELAY_MS = 200;
/** After a failed write, try again this much later (a full disk or a permission fix needs time). */
const RETRY_DELAY_MS = 5000;

export class SnapshotWriter {
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private lastError: Error | null = null;
  private released = false;

  constructor(
    readonly file: string,
    private readonly entries: () => Iterable<readonly [string, string]>,
    private readonly log: Logger,
    private readonly delayMs = DEFAULT_WRITE_DELAY_MS,
  ) {}

  /** The reason the last write failed, while the failure is not yet repaired by a later write. */
  get error(): Error | null {
    return this.lastError;
  }

  /** The table changed: write it soon. */
  changed(): void {
    if (this.released) {
      // Only the newest configuration's database may write the file; anything else would overwrite its data.
      this.log.warn({ file: this.file }, 'memory: change after the snapshot was handed over is not saved');
      return;
    }
    this.dirty = true;
    if (this.timer === null && this.writing === null) this.schedule(this.delayMs);
  }

  /** Write any pending change now and wait for it; throws when the write fails. */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing;
    if (this.released || !this.dirty) return;
    this.cancelTimer();
    this.start();
    await this.writing;
    if (this.lastError !== null) throw this.lastError;
  }

  /** Write the whole table now even if nothing changed (the file may have been removed); throws on failure. */
  save(): Promise<void> {
    if (this.released) {
      return Promise.reject(new Error(`${this.file} belongs to a newer configuration of this database`));
    }
    this.dirty = true;
    return this.flush();
  }

  /** Stop writing for good: a newer database instance owns the file from now on. */
  release(): void {
    this.released = true;
    this.dirty = false;
    this.cancelTimer();
  }

  private cancelTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.dirty && this.writing === null && !this.released) this.start();
    }, ms);
    // A pending snapshot must not keep a stopping process alive; close() flushes it instead.
    this.timer.unref();
  }

  private start(): void {
    this.dirty = false;
    // Serialize now: later changes mark the table dirty again and get their own write.
    const text = formatSnapshot(this.entries());
    this.writing = writeSnapshotAtomically(this.file, text).then(
      () => {
        if (this.lastError !== null) this.log.info({ file: this.file }, 'memory: snapshot written again');
        this.lastError = null;
      },
      (err: Error) => {
        this.dirty = true;
        this.lastError = err;
        this.log.error({ file: this.file, err: err.message }, 'memory: cannot write snapshot; will retry');
      },
    );
    void this.writing.then(() => {
      this.writing = null;
      if (this.dirty && this.timer === null && !this.released) {
        this.schedule(this.lastError !== null ? RETRY_DELAY_MS : this.delayMs);
      }
    });
  }
}
