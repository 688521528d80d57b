/**
 * One ClassicLevel per directory per process. LevelDB locks its directory, so two `database` statements
 * naming the same directory would fail with a lock error if each opened it; instead they share one handle,
 * counted, and the last one to close closes it.
 */
import { ClassicLevel } from 'classic-level';
import { BackendError } from '../../src/errors.js';

export type LevelDb = ClassicLevel<string, string>;

interface Shared {
  readonly db: LevelDb;
  refs: number;
  readonly ready: Promise<void>;
}

const byLocation = new Map<string, Shared>();

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

/** Open (or share) the database at `location`; it must exist, smapd never creates or writes one. */
export async function acquireLevel(location: string): Promise<LevelDb> {
  let entry = byLocation.get(location);
  if (entry === undefined) {
    const db: LevelDb = new ClassicLevel<string, string>(location, {
      createIfMissing: false,
      errorIfExists: false,
      keyEncoding: 'utf8',
      valueEncoding: 'utf8',
    });
    const created: Shared = { db, refs: 0, ready: db.open() };
    entry = created;
    byLocation.set(location, created);
    created.ready.catch(() => {
      if (byLocation.get(location) === created) byLocation.delete(location);
    });
  }
  entry.refs++;
  try {
    await entry.ready;
  } catch (err) {
    entry.refs--;
    throw new BackendError(`cannot open LevelDB ${location}: ${describe(err)}`, { cause: err });
  }
  return entry.db;
}

/** Give back a handle from `acquireLevel`; the last holder closes the database. */
export async function releaseLevel(location: string): Promise<void> {
  const entry = byLocation.get(location);
  if (entry === undefined) return;
  entry.refs--;
  if (entry.refs > 0) return;
  byLocation.delete(location);
  await entry.db.close();
}

export { describe as describeLevelError };
