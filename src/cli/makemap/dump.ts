/**
 * Reads a built map back, entry by entry in key order, for `smapd-makemap --dump`. Both readers open the
 * map read-only and never create anything.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import Database from 'better-sqlite3';
import { EX_DATAERR, EX_IOERR, MakemapError } from './sink.js';
import { decodeBytes } from '../../protocol/bytes.js';

/** An entry, or a row that has no text value (SQLite tables made by hand may hold NULLs or blobs). */
export type DumpEntry = { readonly key: string; readonly value: string } | { readonly key: string; readonly problem: string };

function errText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
  }
  return parts.length > 0 ? parts.join(': ') : String(err);
}

export async function* levelEntries(dir: string, sublevel: string | undefined): AsyncGenerator<DumpEntry> {
  // Without this check LevelDB reports a bare "does not exist" with no hint of what was expected.
  if (!existsSync(path.join(dir, 'CURRENT'))) {
    throw new MakemapError(`${dir} is not a LevelDB directory (no CURRENT file)`, EX_IOERR);
  }
  // Read as bytes: a key or value that is not UTF-8 (level-sink.ts stores those as bytes) must come back exact.
  const db = new ClassicLevel<Buffer, Buffer>(dir, { createIfMissing: false, keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    throw new MakemapError(`cannot open ${dir}: ${errText(err)}`, EX_IOERR, { cause: err });
  }
  try {
    const table = sublevel === undefined ? db : db.sublevel<Buffer, Buffer>(sublevel, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    for await (const [key, value] of table.iterator()) yield { key: decodeBytes(key), value: decodeBytes(value) };
  } finally {
    await db.close();
  }
}

function textOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  // sqlite-sink.ts stores keys and values that are not UTF-8 as blobs of their bytes.
  if (Buffer.isBuffer(v)) return decodeBytes(v);
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return null;
}

export function* sqliteEntries(file: string, table: string): Generator<DumpEntry> {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new MakemapError(`cannot open ${file}: ${errText(err)}`, EX_IOERR, { cause: err });
  }
  try {
    let stmt: Database.Statement<[], { key: unknown; value: unknown }>;
    try {
      const found = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
      if (found === undefined) throw new MakemapError(`${file} has no table '${table}'`, EX_DATAERR);
      stmt = db.prepare(`SELECT key, value FROM "${table}" ORDER BY key`);
    } catch (err) {
      if (err instanceof MakemapError) throw err;
      // A file that is not a database, or a table without key/value columns.
      throw new MakemapError(`cannot read ${file}: ${errText(err)}`, EX_DATAERR, { cause: err });
    }
    for (const row of stmt.iterate()) {
      const key = textOf(row.key);
      const value = textOf(row.value);
      if (key === null) {
        yield { key: String(row.key), problem: 'the key is not text' };
      } else if (value === null) {
        yield { key, problem: row.value === null ? 'the value is NULL' : 'the value is not text' };
      } else {
        yield { key, value };
      }
    }
  } finally {
    db.close();
  }
}
