/**
 * Resources that several databases of one process share, counted: the first `acquire` of a key opens it,
 * the last `release` closes it. For what must not be opened twice (LevelDB locks its directory) or should not
 * be (a connection pool per set of connection settings).
 *
 *   const handles = new SharedResources<Level>({
 *     open: async (dir) => { const db = new ClassicLevel(dir); await db.open(); return db; },
 *     close: (db) => db.close(),
 *   });
 *   // openDb:  state.db = await handles.acquire(state.dir);   (with A = void, no second argument)
 *   // closeDb: await handles.release(state.dir);
 */

/** How to open and close one resource. `A` is what `acquire` passes on to `open` (settings, a logger). */
export interface SharedResourceHooks<T, A = void> {
  /**
   * Open the resource for `key`, with the argument of the `acquire` that found it closed. A throw or
   * rejection is passed to every waiting `acquire`; nothing is kept.
   */
  open(key: string, arg: A): T | Promise<T>;
  /** Close it, once the last holder let go. */
  close(resource: T, key: string): void | Promise<void>;
}

interface Entry<T> {
  readonly opened: Promise<T>;
  refs: number;
}

/** A table of counted resources by key. Each `acquire` that succeeded needs exactly one `release`. */
export class SharedResources<T, A = void> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly hooks: SharedResourceHooks<T, A>) {}

  /**
   * The resource for `key`, opened on first use and shared after that. Concurrent first calls wait for the
   * same open. When the open fails, every caller gets the error and the next `acquire` tries again.
   */
  async acquire(key: string, arg: A): Promise<T> {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const opened = (async () => this.hooks.open(key, arg))();
      const created: Entry<T> = { opened, refs: 0 };
      entry = created;
      this.entries.set(key, created);
      opened.catch(() => {
        if (this.entries.get(key) === created) this.entries.delete(key);
      });
    }
    entry.refs++;
    try {
      return await entry.opened;
    } catch (err) {
      entry.refs--;
      throw err;
    }
  }

  /** Give back what `acquire(key)` returned; the last holder closes it. Unknown keys are ignored. */
  async release(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.entries.delete(key);
    await this.hooks.close(await entry.opened, key);
  }

  /** How many holders `key` has (0 when it is not open). */
  holders(key: string): number {
    return this.entries.get(key)?.refs ?? 0;
  }

  /** How many resources are open or opening. */
  get size(): number {
    return this.entries.size;
  }
}
