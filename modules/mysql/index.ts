/**
 * mysql: answers lookups from MySQL or MariaDB over the module's own connections (link.ts), a few per database,
 * with server-side prepared statements (keys are bound, never pasted into SQL) and pipelined executes.
 * Options follow GNU Smap's mysql module.
 *
 *   module mysql mysql config-file=/etc/smapd/my.cnf config-group=smapd
 *   database aliases mysql query="SELECT dest FROM aliases WHERE name = '$key'"
 */
import { BackendError, BackendTimeoutError, defineModule, ModuleArgumentError, type DatabaseContext } from '../../src/modules/api.js';
import { boundValue, compileQuery, MYSQL_DIALECT, type CompiledQuery } from '../sql-common/query.js';
import {
  clientFieldsOf,
  compileReplies,
  errorText,
  requestValues,
  type SqlReplies,
} from '../sql-common/replies.js';
import { answer, closeFailureLogs, failureLogs, type FailureLogs } from '../sql-common/answer.js';
import { PoolRegistry, type SharedPool } from './pools.js';
import { runLookup } from './lookup.js';
import { LinkError } from './link.js';
import { MysqlServerError } from './packets.js';
import { checkDefaultDb, describeServer, MYSQL_OPTIONS, resolveSettings, type ConnectionSettings } from './settings.js';

export interface MysqlDb {
  readonly ctx: DatabaseContext;
  readonly settings: ConnectionSettings;
  readonly query: CompiledQuery;
  readonly replies: SqlReplies;
  readonly timeoutMs: number;
  /** Failed lookups are logged at most once per interval (an outage fails every one). */
  readonly failures: FailureLogs;
  pool: SharedPool | null;
}

/** Pools by database and connection settings, for every `module ... mysql` statement in this process. */
export const pools = new PoolRegistry();

async function ping(db: MysqlDb, shared: SharedPool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = db.settings.connectTimeoutMs + db.timeoutMs;
  const check = new Promise<void>((resolve, reject) => {
    shared.pick().ping((err) => (err ? reject(err) : resolve()));
  });
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendTimeoutError(`no answer within ${deadline} ms`)), deadline);
  });
  try {
    await Promise.race([check, late]);
  } finally {
    clearTimeout(timer);
    check.catch(() => undefined);
  }
}

/**
 * ER_INVALID_CHARACTER_STRING: the server could not convert a value to a column's character set. With a key
 * bound as bytes (not UTF-8) and compared with a utf8mb4 column, that key has no spelling in the column, so
 * it cannot be there: NOTFOUND, not a failure that would make the client retry forever.
 */
function isUnspellable(err: unknown): boolean {
  return err instanceof MysqlServerError && err.errno === 1300;
}

export default defineModule<MysqlDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,
  answerDependsOn: (db) => clientFieldsOf(db.query.params, db.replies),

  init(args, ctx) {
    ctx.parseOptions(args, MYSQL_OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    // Module arguments first: a database without query= uses the module's (GNU Smap crashed there).
    const { values, given } = ctx.parseOptions([...ctx.moduleArgs, ...args], MYSQL_OPTIONS, { context: where });
    if (values.query === undefined || String(values.query).trim() === '') {
      throw new ModuleArgumentError(`${where}: query= is required (in the database statement or in module ${ctx.moduleId})`);
    }
    const hint = checkDefaultDb(ctx.parseOptions(args, MYSQL_OPTIONS, { context: where }).given, where);
    if (hint !== undefined) ctx.log.warn({ db: ctx.dbId }, hint);
    const ownTimeoutMs = values.timeout as number;
    if (ownTimeoutMs <= 0) throw new ModuleArgumentError(`${where}: timeout must be more than 0`);
    // The database block's timeout answers TIMEOUT whatever the module does; stopping the query then too
    // frees its connection instead of leaving it to run on the server with nobody waiting.
    const timeoutMs = Math.min(ownTimeoutMs, ctx.queryTimeoutMs);
    const query = compileQuery(String(values.query), MYSQL_DIALECT);
    for (const w of query.warnings) ctx.log.warn({ db: ctx.dbId }, w);
    return {
      ctx,
      settings: resolveSettings(values, given, ctx.configDir, where),
      query,
      replies: compileReplies(ctx, values, given),
      timeoutMs,
      failures: failureLogs(ctx, 'mysql'),
      pool: null,
    };
  },

  async openDb(db) {
    if (db.pool !== null) return;
    const shared = pools.acquire(db.ctx.dbId, db.settings, db.ctx.log);
    try {
      await ping(db, shared);
    } catch (err) {
      await pools.release(shared);
      const why = err instanceof LinkError ? err.reason : errorText(err);
      throw new BackendError(`cannot connect to MySQL at ${describeServer(db.settings)}: ${why}`, { cause: err });
    }
    db.pool = shared;
  },

  query(db, map, key, conn) {
    const req = requestValues(map, key, conn);
    const pool = db.pool;
    if (pool === null) throw new BackendError(`database ${db.ctx.dbId} is not open`);
    const values = db.query.params.map((p) => boundValue(req[p]));
    const lookup = () => runLookup(pool, { sql: db.query.sql, values, timeoutMs: db.timeoutMs, log: db.ctx.log });
    return answer(db, req, lookup, (err) => isUnspellable(err) && values.some((v) => typeof v !== 'string'));
  },

  async closeDb(db) {
    closeFailureLogs(db.failures);
    const shared = db.pool;
    db.pool = null;
    if (shared !== null) await pools.release(shared);
  },
});
