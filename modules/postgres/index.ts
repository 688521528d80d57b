/**
 * postgres: answers lookups from PostgreSQL over connections of its own (link.ts: the wire protocol, lookups
 * pipelined), a few per database, with a named prepared statement (keys are bound parameters, never SQL text). Options follow GNU
 * Smap's postgres module: libpq's connection keywords plus `query=` and the reply templates.
 *
 *   module pg postgres host=db1.example.org,db2.example.org dbname=mail user=smap
 *   database aliases pg query="SELECT dest FROM aliases WHERE name = '$key'"
 */
import { BackendError, BackendTimeoutError, defineModule, ModuleArgumentError, type DatabaseContext } from '../../src/modules/api.js';
import type { SqlVariable } from '../sql-common/query.js';
import {
  clientFieldsOf,
  compileReplies,
  errorText,
  renderNotFound,
  requestValues,
  type SqlReplies,
} from '../sql-common/replies.js';
import { answer, closeFailureLogs, failureLogs, type FailureLogs } from '../sql-common/answer.js';
import { runLookup } from './lookup.js';
import { compilePostgresQuery, type PostgresQuery } from './query.js';
import { Servers } from './servers.js';
import { POSTGRES_OPTIONS, resolveSettings, type PostgresSettings } from './settings.js';

export interface PostgresDb {
  readonly ctx: DatabaseContext;
  readonly settings: PostgresSettings;
  readonly query: PostgresQuery;
  readonly replies: SqlReplies;
  readonly timeoutMs: number;
  /** Failed lookups are logged at most once per interval (an outage fails every one). */
  readonly failures: FailureLogs;
  servers: Servers | null;
}

/**
 * PostgreSQL text holds neither NUL nor bytes that are not UTF-8 (smapd talks UTF-8 to it), so a value with
 * either can equal no stored value: such a lookup is answered "not found" without asking the server, which
 * would only reject the value. A lone surrogate is how a key's invalid UTF-8 reaches a module.
 */
const UNSTORABLE = /[\0\p{Cs}]/u;

async function check(db: PostgresDb, servers: Servers): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = db.settings.connectTimeoutMs * db.settings.endpoints.length + db.timeoutMs;
  const ping = servers.acquire();
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendTimeoutError(`no answer within ${deadline} ms`)), deadline);
  });
  try {
    await Promise.race([ping, late]);
  } finally {
    clearTimeout(timer);
    ping.catch(() => undefined);
  }
}

export default defineModule<PostgresDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,
  answerDependsOn: (db) => clientFieldsOf(db.query.compiled.params, db.replies),

  init(args, ctx) {
    ctx.parseOptions(args, POSTGRES_OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    // Module arguments first: a database's own words override the module's, one by one.
    const { values, given } = ctx.parseOptions([...ctx.moduleArgs, ...args], POSTGRES_OPTIONS, { context: where });
    if (values.query === undefined || String(values.query).trim() === '') {
      throw new ModuleArgumentError(`${where}: query= is required (in the database statement or in module ${ctx.moduleId})`);
    }
    const ownTimeoutMs = values.timeout as number;
    if (ownTimeoutMs <= 0) throw new ModuleArgumentError(`${where}: timeout must be more than 0`);
    const query = compilePostgresQuery(String(values.query));
    for (const w of query.compiled.warnings) ctx.log.warn({ db: ctx.dbId }, w);
    return {
      ctx,
      settings: resolveSettings(values, ctx.configDir, where),
      query,
      replies: compileReplies(ctx, values, given),
      // The database block's timeout answers TIMEOUT whatever the module does: cancel the query by then.
      timeoutMs: Math.min(ownTimeoutMs, ctx.queryTimeoutMs),
      failures: failureLogs(ctx, 'postgres'),
      servers: null,
    };
  },

  async openDb(db) {
    if (db.servers !== null) return;
    const statement = { name: db.query.name, sql: db.query.compiled.sql };
    const servers = new Servers(db.settings, statement, db.timeoutMs, db.ctx.log);
    try {
      await check(db, servers);
    } catch (err) {
      await servers.close();
      throw new BackendError(`cannot connect to PostgreSQL: ${errorText(err)}`, { cause: err });
    }
    db.servers = servers;
  },

  query(db, map, key, conn) {
    const req = requestValues(map, key, conn);
    const servers = db.servers;
    if (servers === null) throw new BackendError(`database ${db.ctx.dbId} is not open`);
    const values = db.query.order.map((v: SqlVariable) => req[v]);
    if (values.some((v) => UNSTORABLE.test(v))) return renderNotFound(db.replies.negative, req);
    const lookup = () => runLookup(servers, { values, timeoutMs: db.timeoutMs });
    return answer(db, req, lookup);
  },

  async closeDb(db) {
    closeFailureLogs(db.failures);
    const servers = db.servers;
    db.servers = null;
    if (servers !== null) await servers.close();
  },
});
