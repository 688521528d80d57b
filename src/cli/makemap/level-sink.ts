/**
 * Builds a LevelDB directory for the `level` module. Entries go in batches; a key is checked against the
 * pending batch and the database (getSync, cheap next to the write) so duplicates are counted without
 * holding every key in memory.
 */
import { existsSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { EX_IOERR, ioMessage, MakemapError, temporaryPath, type MapSink, type MapStats } from './sink.js';
import { hasRawBytes, textBytes } from '../../protocol/bytes.js';

type Level = ClassicLevel<string | Buffer, string | Buffer>;
/** The part of a database or sublevel a build uses. */
interface Table {
  getSync(key: string | Buffer, options: { keyEncoding: 'utf8' | 'buffer' }): string | Buffer | undefined;
  batch(ops: PutOperation[]): Promise<void>;
}

/**
 * A key or value that is not UTF-8 (src/protocol/bytes.ts) is written as its bytes, never as U+FFFD, so the
 * level module, which looks such a key up by its bytes, finds exactly that entry.
 */
type PutOperation =
  | { type: 'put'; key: string | Buffer; value: string | Buffer; keyEncoding?: 'buffer'; valueEncoding?: 'buffer' };

function putOperation(key: string, value: string): PutOperation {
  const op: PutOperation = { type: 'put', key, value };
  if (hasRawBytes(key)) {
    op.key = textBytes(key);
    op.keyEncoding = 'buffer';
  }
  if (hasRawBytes(value)) {
    op.value = textBytes(value);
    op.valueEncoding = 'buffer';
  }
  return op;
}

const BATCH_SIZE = 10_000;

/** abstract-level's rule for sublevel names (printable ASCII above `"`, so never its `!` separator). */
export function checkSublevelName(name: string): string | null {
  if (name === '') return 'a sublevel name must not be empty';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 34 || c >= 127) return `sublevel name '${name}' may only use printable ASCII characters from '#' to '~'`;
  }
  return null;
}

function errText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) {
    if (e.message && !parts.includes(e.message)) parts.push(e.message);
  }
  return parts.length > 0 ? parts.join(': ') : String(err);
}

function isLevelDir(dir: string): boolean {
  return existsSync(path.join(dir, 'CURRENT'));
}

/**
 * An existing output is replaced only if it is a LevelDB directory nobody has open: deleting a directory that
 * smapd reads from would break its lookups, and deleting anything else would be a disaster.
 */
async function checkReplaceable(output: string): Promise<boolean> {
  let st;
  try {
    st = await stat(output);
  } catch {
    return false;
  }
  if (!st.isDirectory() || !isLevelDir(output)) {
    throw new MakemapError(`${output} exists and is not a LevelDB directory; refusing to replace it`, EX_IOERR);
  }
  const probe: Level = new ClassicLevel(output, { createIfMissing: false });
  try {
    await probe.open();
  } catch (err) {
    throw new MakemapError(ioMessage(`${output} cannot be replaced (is smapd using it?)`, errText(err)), EX_IOERR);
  }
  await probe.close();
  return true;
}

export class LevelSink implements MapSink {
  private pending = new Map<string, string>();
  private stats: MapStats = { distinct: 0, duplicates: { count: 0, first: null } };
  private table: Table;

  private constructor(
    private readonly output: string,
    private readonly temp: string,
    private readonly replace: boolean,
    private readonly db: Level,
  ) {
    this.table = db;
  }

  static async create(output: string): Promise<LevelSink> {
    const replace = await checkReplaceable(output);
    const temp = temporaryPath(output);
    await rm(temp, { recursive: true, force: true });
    const db: Level = new ClassicLevel(temp, { createIfMissing: true, errorIfExists: true });
    try {
      await db.open();
    } catch (err) {
      throw new MakemapError(ioMessage(`cannot create ${temp}`, errText(err)), EX_IOERR, { cause: err });
    }
    return new LevelSink(output, temp, replace, db);
  }

  async beginMap(name: string | undefined): Promise<void> {
    await this.flush();
    this.table =
      name === undefined ? this.db : this.db.sublevel<string | Buffer, string | Buffer>(name, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    this.stats = { distinct: 0, duplicates: { count: 0, first: null } };
  }

  add(key: string, value: string, line: number): void {
    const raw = hasRawBytes(key);
    const known = this.table.getSync(raw ? textBytes(key) : key, { keyEncoding: raw ? 'buffer' : 'utf8' });
    if (this.pending.has(key) || known !== undefined) {
      this.stats.duplicates.count++;
      this.stats.duplicates.first ??= { key, line };
    } else {
      this.stats.distinct++;
    }
    this.pending.set(key, value);
  }

  async flushIfFull(): Promise<void> {
    if (this.pending.size >= BATCH_SIZE) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const ops = Array.from(this.pending, ([key, value]) => putOperation(key, value));
    this.pending = new Map();
    try {
      await this.table.batch(ops);
    } catch (err) {
      throw new MakemapError(ioMessage(`cannot write ${this.temp}`, errText(err)), EX_IOERR, { cause: err });
    }
  }

  async endMap(): Promise<MapStats> {
    await this.flush();
    return this.stats;
  }

  async finish(): Promise<void> {
    await this.flush();
    try {
      await this.db.close();
      if (this.replace) {
        const old = `${this.output}.old-${process.pid}`;
        await rename(this.output, old);
        await rename(this.temp, this.output);
        await rm(old, { recursive: true, force: true });
      } else {
        await rename(this.temp, this.output);
      }
    } catch (err) {
      throw new MakemapError(ioMessage(`cannot put ${this.output} in place`, err), EX_IOERR, { cause: err });
    }
  }

  async abort(): Promise<void> {
    try {
      if (this.db.status === 'open' || this.db.status === 'opening') await this.db.close();
    } catch {
      // Closing is best effort: the directory is removed next anyway.
    }
    await rm(this.temp, { recursive: true, force: true }).catch(() => undefined);
  }
}
