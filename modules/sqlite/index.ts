/**
 * sqlite: answers lookups from an SQLite file with better-sqlite3. Lookups are synchronous (no promise per
 * query), so this is the fast path for local tables such as the ones `smapd-makemap --type sqlite` builds.
 *
 *   database aliases sqlite file=aliases.db
 *   database vmail sqlite file=/etc/smapd/mail.db query="SELECT dest FROM virtual WHERE map = :map AND addr = :key"
 */
import path from 'node:path';
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { BackendError, defineModule, type DatabaseContext, type OptionSpec } from '../../src/modules/api.js';
import { ModuleArgumentError } from '../../src/modules/api.js';
import { ALLOW_MISSING_OPTION, checkPresent } from '../map-common/missing.js';
import { boundValue, compileQuery, SQLITE_DIALECT, type CompiledQuery, type SqlVariable } from '../sql-common/query.js';
import {
  clientFieldsOf,
  compileReplies,
  renderError,
  renderNotFound,
  renderRow,
  requestValues,
  unknownColumns,
  REPLY_OPTIONS,
  type SqlReplies,
} from '../sql-common/replies.js';

/** The schema `smapd-makemap --type sqlite` builds: map(key TEXT PRIMARY KEY, value TEXT). */
export const DEFAULT_SQLITE_QUERY = 'SELECT value FROM map WHERE key = :key';

const OPTIONS: OptionSpec = {
  file: { type: 'string' },
  query: { type: 'string', default: DEFAULT_SQLITE_QUERY },
  readonly: { type: 'boolean', default: true },
  // A lookup blocks the whole process while SQLite waits for a lock, so wait briefly, then answer TEMP.
  'busy-timeout': { type: 'duration', default: 200 },
  // How often to look whether the file was replaced (makemap writes a new file and renames it over the old).
  'check-interval': { type: 'duration', default: 1000 },
  // The file is only ever replaced whole, never written in place: keep the read lock instead of taking and
  // dropping it (7 system calls) on every lookup — about 4x faster. Writers to the file in place are blocked.
  immutable: { type: 'boolean', default: false },
  ...REPLY_OPTIONS,
  ...ALLOW_MISSING_OPTION,
};

interface OpenFile {
  readonly handle: Database.Database;
  readonly stmt: Database.Statement;
  readonly columns: readonly string[];
  /** dev:ino of the file when it was opened. */
  readonly identity: string;
}

export interface SqliteDb {
  readonly ctx: DatabaseContext;
  readonly file: string;
  readonly readonly: boolean;
  readonly busyTimeoutMs: number;
  readonly checkIntervalMs: number;
  readonly immutable: boolean;
  readonly query: CompiledQuery;
  /** The distinct variables the statement binds, by name. */
  readonly bound: readonly SqlVariable[];
  readonly replies: SqlReplies;
  open: OpenFile | null;
  nextCheck: number;
}

function fileIdentity(file: string): string | undefined {
  const st = statSync(file, { throwIfNoEntry: false });
  return st === undefined ? undefined : `${st.dev}:${st.ino}`;
}

/** Errors that leave the handle usable; any other error reopens the file on the next lookup. */
const TRANSIENT = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_INTERRUPT']);

function openFile(db: SqliteDb): OpenFile {
  let handle: Database.Database;
  try {
    // fileMustExist even when writable: a typo in file= must not silently create an empty database.
    handle = new Database(db.file, { readonly: db.readonly, fileMustExist: true, timeout: db.busyTimeoutMs });
  } catch (err) {
    throw new BackendError(`cannot open ${db.file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const identity = fileIdentity(db.file) ?? '';
    // Reading pages through a memory map skips a copy per page: about 20% less CPU per lookup (bench).
    handle.pragma('mmap_size = 268435456');
    if (db.immutable) handle.pragma('locking_mode = EXCLUSIVE');
    const stmt = handle.prepare(db.query.sql);
    if (!stmt.reader) throw new Error('the query returns no rows (it must be a SELECT or have RETURNING)');
    stmt.raw(true);
    const columns = stmt.columns().map((c) => c.name);
    const missing = unknownColumns(db.replies.positive, columns);
    if (missing.length > 0) {
      db.ctx.log.warn({ file: db.file, columns, missing }, 'positive-reply uses columns the query does not return');
    }
    return { handle, stmt, columns, identity };
  } catch (err) {
    handle.close();
    throw new BackendError(`${db.file}: ${(err as Error).message}`, { cause: err });
  }
}

function closeFile(db: SqliteDb): void {
  const o = db.open;
  db.open = null;
  if (o !== null && o.handle.open) o.handle.close();
}

/** Reopen when the file was replaced; keep serving the old copy if the new one cannot be opened yet. */
function checkReplaced(db: SqliteDb, now: number): void {
  db.nextCheck = now + db.checkIntervalMs;
  const id = fileIdentity(db.file);
  if (id === undefined || db.open === null || id === db.open.identity) return;
  try {
    const fresh = openFile(db);
    closeFile(db);
    db.open = fresh;
    db.ctx.log.info({ file: db.file }, 'database file was replaced; reopened');
  } catch (err) {
    db.ctx.log.warn({ file: db.file, err: (err as Error).message }, 'database file was replaced but cannot be opened yet');
  }
}

export default defineModule<SqliteDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,
  answerDependsOn: (db) => clientFieldsOf(db.query.params, db.replies),

  init(args, ctx) {
    ctx.parseOptions(args, OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    const { values, given } = ctx.parseOptions([...ctx.moduleArgs, ...args], OPTIONS, { context: where });
    const fileOpt = values.file as string | undefined;
    if (fileOpt === undefined || fileOpt === '') {
      throw new ModuleArgumentError(`${where}: file= is required (the SQLite database file)`);
    }
    const immutable = values.immutable === true;
    if (immutable && values.readonly === false) {
      throw new ModuleArgumentError(`${where}: immutable needs readonly (a writable database is changed in place)`);
    }
    const query = compileQuery(String(values.query), SQLITE_DIALECT);
    for (const w of query.warnings) ctx.log.warn({ db: ctx.dbId }, w);
    const replies = compileReplies(ctx, values, given);
    const file = path.resolve(ctx.configDir, fileOpt);
    checkPresent(file, 'SQLite file', values['allow-missing'] === true, ctx);
    return {
      ctx,
      file,
      readonly: values.readonly as boolean,
      busyTimeoutMs: values['busy-timeout'] as number,
      checkIntervalMs: values['check-interval'] as number,
      immutable,
      query,
      bound: [...new Set(query.params)],
      replies,
      open: null,
      nextCheck: 0,
    };
  },

  openDb(db) {
    if (db.open !== null) return;
    db.open = openFile(db);
    db.nextCheck = Date.now() + db.checkIntervalMs;
  },

  query(db, map, key, conn) {
    const req = requestValues(map, key, conn);
    if (db.checkIntervalMs > 0) {
      const now = Date.now();
      if (now >= db.nextCheck) checkReplaced(db, now);
    }
    try {
      if (db.open === null) db.open = openFile(db);
      let row: unknown[] | undefined;
      if (db.bound.length === 0) {
        row = db.open.stmt.get() as unknown[] | undefined;
      } else {
        const params: Record<string, string | Buffer> = {};
        for (const v of db.bound) params[v] = boundValue(req[v]);
        row = db.open.stmt.get(params) as unknown[] | undefined;
      }
      if (row === undefined) return renderNotFound(db.replies.negative, req);
      return renderRow(db.replies.positive, { names: db.open.columns, values: row }, req);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (!(typeof code === 'string' && TRANSIENT.has(code))) closeFile(db);
      db.ctx.log.error({ db: db.ctx.dbId, file: db.file, err: (err as Error).message }, 'sqlite lookup failed');
      return renderError(db.replies.onerror, req, err);
    }
  },

  closeDb(db) {
    closeFile(db);
  },
});
