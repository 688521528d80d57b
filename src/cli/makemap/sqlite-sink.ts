/**
 * Builds an SQLite file for the `sqlite` module, whose default query `SELECT value FROM map WHERE key = :key`
 * reads this schema:
 *
 *   CREATE TABLE map (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID
 *
 * A key or value that is not UTF-8 (a Latin-1 `caf\xe9`, see src/protocol/bytes.ts) is stored as a BLOB of its
 * bytes, never as text with U+FFFD; the sqlite module binds such a key as a BLOB, and a BLOB only ever equals a
 * BLOB, so it finds exactly that entry.
 *
 * The whole build is one transaction in a temporary file with journaling off (a failed build is simply
 * deleted); the finished file is synced and renamed over the output, which is atomic for a running smapd.
 */
import { closeSync, fsyncSync, openSync, readSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { EX_IOERR, ioMessage, MakemapError, temporaryPath, type MapSink, type MapStats } from './sink.js';
import { hasRawBytes, textBytes } from '../../protocol/bytes.js';

export const DEFAULT_TABLE = 'map';

/** Table names are put into SQL, so only plain identifiers are accepted. */
export function checkTableName(name: string): string | null {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return null;
  return `table name '${name}' must be letters, digits and _ (not starting with a digit)`;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

function isSqliteFile(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(SQLITE_MAGIC.length);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return n === buf.length && buf.toString('latin1') === SQLITE_MAGIC;
  } finally {
    closeSync(fd);
  }
}

/** Refuse to replace anything but an SQLite file: swapped INPUT and OUTPUT arguments must not eat a text map. */
async function checkReplaceable(output: string): Promise<void> {
  let st;
  try {
    st = await stat(output);
  } catch {
    return;
  }
  if (!st.isFile() || (st.size > 0 && !isSqliteFile(output))) {
    throw new MakemapError(`${output} exists and is not an SQLite database; refusing to replace it`, EX_IOERR);
  }
}

/** What a key or value is stored as: text, or the bytes of text that is not UTF-8. */
type StoredText = string | Buffer;

function stored(text: string): StoredText {
  return hasRawBytes(text) ? textBytes(text) : text;
}

export class SqliteSink implements MapSink {
  private stats: MapStats = { distinct: 0, duplicates: { count: 0, first: null } };
  private insert: Database.Statement<[StoredText, StoredText]> | null = null;
  private update: Database.Statement<[StoredText, StoredText]> | null = null;

  private constructor(
    private readonly output: string,
    private readonly temp: string,
    private readonly db: Database.Database,
  ) {}

  static async create(output: string): Promise<SqliteSink> {
    await checkReplaceable(output);
    const temp = temporaryPath(output);
    await rm(temp, { force: true });
    try {
      const db = new Database(temp);
      db.pragma('journal_mode = OFF');
      db.pragma('synchronous = OFF');
      db.exec('BEGIN');
      return new SqliteSink(output, temp, db);
    } catch (err) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw new MakemapError(ioMessage(`cannot create ${temp}`, err), EX_IOERR, { cause: err });
    }
  }

  async beginMap(name: string | undefined): Promise<void> {
    const table = name ?? DEFAULT_TABLE;
    const bad = checkTableName(table);
    if (bad !== null) throw new MakemapError(bad, EX_IOERR);
    try {
      this.db.exec(`CREATE TABLE "${table}" (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID`);
      this.insert = this.db.prepare(`INSERT INTO "${table}" (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`);
      this.update = this.db.prepare(`UPDATE "${table}" SET value = ? WHERE key = ?`);
    } catch (err) {
      throw new MakemapError(ioMessage(`cannot create table ${table} in ${this.temp}`, err), EX_IOERR, { cause: err });
    }
    this.stats = { distinct: 0, duplicates: { count: 0, first: null } };
  }

  add(key: string, value: string, line: number): void {
    if (this.insert === null || this.update === null) throw new Error('SqliteSink.add before beginMap');
    try {
      if (this.insert.run(stored(key), stored(value)).changes === 0) {
        // Insert-or-nothing then update tells a duplicate apart from a new key, which REPLACE cannot.
        this.update.run(stored(value), stored(key));
        this.stats.duplicates.count++;
        this.stats.duplicates.first ??= { key, line };
      } else {
        this.stats.distinct++;
      }
    } catch (err) {
      throw new MakemapError(ioMessage(`cannot write ${this.temp}`, err), EX_IOERR, { cause: err });
    }
  }

  async flushIfFull(): Promise<void> {
    // One transaction for the whole build: SQLite spills to the file itself, nothing piles up here.
  }

  async endMap(): Promise<MapStats> {
    return this.stats;
  }

  async finish(): Promise<void> {
    try {
      this.db.exec('COMMIT');
      // A normal journal mode again, so the file behaves like any SQLite database once in place.
      this.db.pragma('journal_mode = DELETE');
      this.db.close();
      const fd = openSync(this.temp, 'r+');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      await rename(this.temp, this.output);
    } catch (err) {
      throw new MakemapError(ioMessage(`cannot put ${this.output} in place`, err), EX_IOERR, { cause: err });
    }
  }

  async abort(): Promise<void> {
    try {
      if (this.db.open) this.db.close();
    } catch {
      // Best effort: the file is removed next anyway.
    }
    await rm(this.temp, { force: true }).catch(() => undefined);
  }
}
