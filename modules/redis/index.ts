/**
 * redis: answers lookups from Redis or a Redis Cluster with ioredis. A lookup is one GET of a key made from a
 * template (`${map}:${key}` by default), or one HGET of a field; the key travels as a command argument, never
 * as command text, so no key can be anything but data.
 *
 *   module redis redis url=redis://127.0.0.1:6379/0
 *   database aliases redis key=alias:${key}
 *   database users redis cluster=10.0.0.1:7000,10.0.0.2:7000 key=user:${key} field=mailbox
 */
import {
  clientFieldsUsed,
  BackendError,
  BackendTimeoutError,
  defineModule,
  errorDetail,
  hasRawBytes,
  keyBytes,
  RateLimitedWarning,
  type ClientField,
  type ConnInfo,
  type DatabaseContext,
  type Reply,
} from '../../src/modules/api.js';
import { RedisCluster } from './cluster.js';
import { RedisLink } from './link.js';
import type { RespArg } from './resp.js';
import { REDIS_OPTIONS, resolveSettings, type RedisSettings } from './settings.js';

export interface RedisDb {
  readonly ctx: DatabaseContext;
  readonly settings: RedisSettings;
  /** One server (`url=`), or a cluster (`cluster=`); null while closed. */
  client: RedisLink | RedisCluster | null;
  /** While Redis is down every lookup fails: one log line at once, then one summary per interval. */
  readonly failedLog: RateLimitedWarning;
  readonly timedOutLog: RateLimitedWarning;
}

function requestVars(map: string, key: string, conn: ConnInfo): (name: string) => string | undefined {
  return (name) => {
    switch (name) {
      case 'key':
        return key;
      case 'map':
        return map;
      case 'src':
        return conn.src;
      case 'dst':
        return conn.dst;
      case 'server':
        return conn.serverId;
      default:
        return undefined;
    }
  };
}

/**
 * Keys are bytes (smapd.md "Keys are bytes"): a key holding 8-bit bytes goes to Redis as those bytes, and
 * the value comes back as its bytes too, so `\xfe` and `\xff` stay two keys and a Latin-1 value round-trips.
 */
function arg(text: string): RespArg {
  return hasRawBytes(text) ? keyBytes(text) : text;
}

export default defineModule<RedisDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,

  answerDependsOn(db): readonly ClientField[] {
    const s = db.settings;
    return clientFieldsUsed([...s.key.variables, ...(s.field?.variables ?? []), ...s.replies.positive.variables, ...s.replies.negative.variables]);
  },

  init(args, ctx) {
    ctx.parseOptions(args, REDIS_OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    const { values, given } = ctx.parseOptions([...ctx.moduleArgs, ...args], REDIS_OPTIONS, { context: where });
    return {
      ctx,
      settings: resolveSettings(ctx, values, given, where),
      client: null,
      failedLog: new RateLimitedWarning(ctx.log, 'redis lookup failed'),
      timedOutLog: new RateLimitedWarning(ctx.log, 'redis lookup timed out'),
    };
  },

  async openDb(db) {
    if (db.client !== null) return;
    const s = db.settings;
    db.client = s.server.mode === 'server' ? await RedisLink.open(s.server, s.timeoutMs, db.ctx.log) : await RedisCluster.open(s.server, s.timeoutMs, db.ctx.log);
  },

  async query(db, map, key, conn): Promise<Reply> {
    const client = db.client;
    if (client === null) throw new BackendError(`database ${db.ctx.dbId} is not open`);
    const vars = requestVars(map, key, conn);
    const s = db.settings;
    try {
      const field = s.field?.render(vars);
      const value = await client.read(arg(s.key.render(vars)), field === undefined ? undefined : arg(field));
      if (value === null) return s.replies.negative.render(vars);
      return s.replies.positive.render((name) => (name === 'value' ? value : vars(name)));
    } catch (err) {
      const timedOut = err instanceof BackendTimeoutError;
      const why = errorDetail(err);
      (timedOut ? db.timedOutLog : db.failedLog).note({ db: db.ctx.dbId, err: why });
      return (timedOut ? s.replies.timeout : s.replies.onerror).render((name) => (name === 'error' ? why : vars(name)));
    }
  },

  async closeDb(db) {
    const client = db.client;
    db.client = null;
    db.failedLog.close();
    db.timedOutLog.close();
    if (client !== null) await client.close();
  },
});
