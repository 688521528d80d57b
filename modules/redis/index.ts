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
  BackendError,
  BackendTimeoutError,
  bytesToText,
  defineModule,
  errorDetail,
  hasRawBytes,
  keyBytes,
  type ClientField,
  type ConnInfo,
  type DatabaseContext,
  type Reply,
} from '../../src/modules/api.js';
import { ReplyError } from 'ioredis';
import { closeClient, openClient, type RedisClient } from './connect.js';
import { REDIS_OPTIONS, resolveSettings, type RedisSettings } from './settings.js';

export interface RedisDb {
  readonly ctx: DatabaseContext;
  readonly settings: RedisSettings;
  client: RedisClient | null;
}


/** A redirection the cluster client could not follow (the node it points to is down), not a data error. */
const CLUSTER_REDIRECT = /^(?:MOVED|ASK|CLUSTERDOWN|TRYAGAIN) /;

/**
 * Why a lookup failed, in words an administrator reads in a TEMP reply. ioredis words a missing connection
 * in terms of its own options ("enableOfflineQueue", "max retries per request"), so say what it means; an
 * error that Redis itself sent (WRONGTYPE, NOAUTH) is kept as it is.
 */
function failureText(db: RedisDb, client: RedisClient, err: unknown): string {
  const s = db.settings.server;
  const text = errorDetail(err);
  const fromRedis = err instanceof ReplyError;
  if (s.mode === 'cluster' && client.status !== 'ready') return `no connection to Redis Cluster ${s.describe} (${client.status})`;
  if (s.mode === 'cluster' && (!fromRedis || CLUSTER_REDIRECT.test(text))) {
    return `Redis Cluster ${s.describe}: no connection to the node for this key (${text})`;
  }
  if (fromRedis) return text;
  return `no connection to Redis at ${s.describe}` + (client.status === 'ready' ? '' : ` (${client.status})`);
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

/** GET or HGET with a deadline; resolves with the value, or null when the key (or field) does not exist. */
function read(db: RedisDb, client: RedisClient, redisKey: string, field: string | undefined): Promise<string | null> {
  const { timeoutMs } = db.settings;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new BackendTimeoutError(`no answer from Redis at ${db.settings.server.describe} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    // Keys are bytes (smapd.md "Keys are bytes"): a key holding 8-bit bytes goes to Redis as those bytes, and
    // the value comes back as its bytes too, so `\xfe` and `\xff` stay two keys and a Latin-1 value round-trips.
    const k = hasRawBytes(redisKey) ? keyBytes(redisKey) : redisKey;
    const f = field === undefined ? undefined : hasRawBytes(field) ? keyBytes(field) : field;
    const cmd = f === undefined ? client.getBuffer(k) : client.hgetBuffer(k, f);
    cmd.then(
      (v) => {
        clearTimeout(timer);
        resolve(v === null ? null : bytesToText(v));
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export default defineModule<RedisDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,

  answerDependsOn(db): readonly ClientField[] {
    const s = db.settings;
    const used = new Set<string>([...s.key.variables, ...(s.field?.variables ?? []), ...s.replies.positive.variables, ...s.replies.negative.variables]);
    const fields: ClientField[] = [];
    if (used.has('src')) fields.push('src');
    if (used.has('dst')) fields.push('dst');
    if (used.has('server')) fields.push('serverId');
    return fields;
  },

  init(args, ctx) {
    ctx.parseOptions(args, REDIS_OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    const { values, given } = ctx.parseOptions([...ctx.moduleArgs, ...args], REDIS_OPTIONS, { context: where });
    return { ctx, settings: resolveSettings(ctx, values, given, where), client: null };
  },

  async openDb(db) {
    if (db.client !== null) return;
    db.client = await openClient(db.settings.server, db.ctx.log);
  },

  async query(db, map, key, conn): Promise<Reply> {
    const client = db.client;
    if (client === null) throw new BackendError(`database ${db.ctx.dbId} is not open`);
    const vars = requestVars(map, key, conn);
    const s = db.settings;
    try {
      // Never wait for a connection: while there is none, the answer is TEMP now, not a timeout later.
      if (client.status !== 'ready') throw new BackendError(`client ${client.status}`);
      const value = await read(db, client, s.key.render(vars), s.field?.render(vars));
      if (value === null) return s.replies.negative.render(vars);
      return s.replies.positive.render((name) => (name === 'value' ? value : vars(name)));
    } catch (err) {
      const timedOut = err instanceof BackendTimeoutError;
      const why = timedOut ? errorDetail(err) : failureText(db, client, err);
      db.ctx.log.error({ db: db.ctx.dbId, err: why }, timedOut ? 'redis lookup timed out' : 'redis lookup failed');
      return (timedOut ? s.replies.timeout : s.replies.onerror).render((name) => (name === 'error' ? why : vars(name)));
    }
  },

  async closeDb(db) {
    const client = db.client;
    db.client = null;
    if (client !== null) await closeClient(client);
  },
});
