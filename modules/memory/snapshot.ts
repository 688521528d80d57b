/**
 * The snapshot file of a `memory` database: a header line, one JSON array `["key","value"]` per binding, and a
 * trailer with the count. JSON escaping lets keys and values hold any character; the trailer makes a
 * truncated file (a disk that filled up, a copy cut short) detectable instead of silently loading half a table.
 *
 *   # smapd memory snapshot v1
 *   ["postmaster@example.org","admin@example.org"]
 *   # end 1
 */
import { constants } from 'node:fs';
import { access, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export const SNAPSHOT_HEADER = '# smapd memory snapshot v1';
const TRAILER = /^# end (\d+)$/;

/** A snapshot that cannot be read as one; the message starts with `FILE:LINE: `. */
export class SnapshotFormatError extends Error {}

export interface LoadedSnapshot {
  readonly bindings: Array<[string, string]>;
  /** The line number of each binding, for messages about it. */
  readonly lines: number[];
}

/** Read a snapshot; a missing file is an empty table (the first start), anything malformed throws. */
export async function readSnapshot(file: string): Promise<LoadedSnapshot> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { bindings: [], lines: [] };
    throw err;
  }
  return parseSnapshot(text, file);
}

export function parseSnapshot(text: string, file: string): LoadedSnapshot {
  const bindings: Array<[string, string]> = [];
  const lines: number[] = [];
  // An empty file holds no data that could be lost (e.g. one created with touch): read it as an empty table.
  if (text === '') return { bindings, lines };
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  const fail = (line: number, why: string): never => {
    throw new SnapshotFormatError(`${file}:${line}: ${why}`);
  };
  if (all[0] !== SNAPSHOT_HEADER) fail(1, `not a smapd memory snapshot (the first line must be '${SNAPSHOT_HEADER}')`);
  let ended = false;
  for (let i = 1; i < all.length; i++) {
    const line = all[i]!;
    const n = i + 1;
    if (ended) fail(n, 'data after the end line');
    const end = TRAILER.exec(line);
    if (end) {
      if (Number(end[1]) !== bindings.length) {
        fail(n, `the end line counts ${end[1]} bindings but the file holds ${bindings.length}`);
      }
      ended = true;
      continue;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch (err) {
      fail(n, `not a binding: ${(err as Error).message}`);
    }
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') {
      fail(n, 'a binding must be a JSON array of two strings: ["key","value"]');
    }
    bindings.push(entry as [string, string]);
    lines.push(n);
  }
  if (!ended) fail(all.length, "the file is truncated: the '# end N' line is missing");
  return { bindings, lines };
}

export function formatSnapshot(entries: Iterable<readonly [string, string]>): string {
  const out = [SNAPSHOT_HEADER];
  for (const [k, v] of entries) out.push(JSON.stringify([k, v]));
  out.push(`# end ${out.length - 1}`);
  return out.join('\n') + '\n';
}

/**
 * Replace `file` with `text` so that a reader (or a crash) sees either the old file or the new one, never a
 * mix: write a temp file beside it, flush it to disk, rename it over the old one. Mode 0600: bindings are
 * often addresses and routing data that other local users have no business reading.
 */
export async function writeSnapshotAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Persist the rename itself; not every file system lets a directory be opened for this, so it is best effort.
  try {
    const dir = await open(path.dirname(file), 'r');
    await dir.sync().finally(() => dir.close());
  } catch {
    /* the data file itself is already on disk */
  }
}

/** Fail early, at open, when the snapshot could never be written, rather than at the first change. */
export async function checkWritableDir(file: string): Promise<void> {
  const dir = path.dirname(file);
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not writable' : (err as Error).message;
    throw new Error(`snapshot directory ${dir} ${why}`);
  }
}
