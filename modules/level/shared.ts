/**
 * One ClassicLevel per directory per process. LevelDB locks its directory, so two `database` statements
 * naming the same directory would fail with a lock error if each opened it; instead they share one handle,
 * counted, and the last one to close closes it.
 */
import { ClassicLevel } from 'classic-level';
import { BackendError, SharedResources } from '../../src/modules/api.js';

export type LevelDb = ClassicLevel<string, string>;

/** The innermost message of an error chain: classic-level wraps the LevelDB status in `cause`. */
function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  while (e instanceof Error && parts.length < 4) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
    e = e.cause;
  }
  const text = parts.length > 0 ? parts.join(': ') : String(err);
  return /\block\b/i.test(text) ? `${text} (is another process, such as smapd-makemap or another smapd, using it?)` : text;
}

const handles = new SharedResources<LevelDb>({
  async open(location) {
    // It must exist: smapd never creates or writes a LevelDB.
    const db: LevelDb = new ClassicLevel<string, string>(location, {
      createIfMissing: false,
      errorIfExists: false,
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
    });
    await db.open();
    return db;
  },
  close: (db) => db.close(),
});

/** Open (or share) the database at `location`. */
export async function acquireLevel(location: string): Promise<LevelDb> {
  try {
    return await handles.acquire(location);
  } catch (err) {
    throw new BackendError(`cannot open LevelDB ${location}: ${describe(err)}`, { cause: err });
  }
}

/** Give back a handle from `acquireLevel`; the last holder closes the database. */
export async function releaseLevel(location: string): Promise<void> {
  await handles.release(location);
}

export { describe as describeLevelError };
