/**
 * sockmap: forwards lookups to another socketmap server (another smapd, postfix-mta-sts-resolver, PostSRSd,
 * postfix-tlspol) and passes its reply on unchanged, so that the MTA needs one endpoint and smapd adds
 * dispatch, cache and metrics in front of the single-purpose daemons.
 *
 *   module upstream sockmap
 *   database mta-sts upstream url=inet://127.0.0.1:8461 map=postfix
 */
import {
  clientFieldsUsed,
  BackendError,
  ConnectError,
  Deferred,
  ModuleArgumentError,
  ReplyTimeoutError,
  defineModule,
  parseServerUrl,
  type ClientField,
  type DatabaseContext,
  type OptionSpec,
  type Reply,
  type ReplyHandler,
  type Template,
} from '../../src/modules/api.js';
import { Upstream } from './pool.js';

const DEFAULT_CONNECTIONS = 4;
const MAX_CONNECTIONS = 64;

export const SOCKMAP_OPTIONS: OptionSpec = {
  url: { type: 'string' },
  map: { type: 'string', default: '${map}' },
  connections: { type: 'number', default: DEFAULT_CONNECTIONS },
  timeout: { type: 'duration', default: 10_000 },
};

/** What `map=` may use: the request's map and key, and the connection facts. */
const MAP_VARIABLES = ['map', 'key', 'src', 'dst', 'server'] as const;

export interface SockmapDb {
  readonly ctx: DatabaseContext;
  readonly url: string;
  readonly timeoutMs: number;
  readonly connections: number;
  /** The upstream map name: a template, or null when it is the request's own map name (the default). */
  readonly map: Template | null;
  upstream: Upstream | null;
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message.replace(/\s+/g, ' ').trim() : String(err);
  return msg === '' ? 'unknown error' : msg;
}

/** The upstream's reply, passed on as it came; smapd answers only for a payload that is no socketmap reply. */
function relayed(db: SockmapDb, payload: string): Reply {
  const reply = db.ctx.reply.relay(payload);
  if (reply !== undefined) return reply;
  db.ctx.log.error({ db: db.ctx.dbId, upstream: db.url, reply: payload.slice(0, 200) }, 'upstream sent something that is not a socketmap reply');
  return db.ctx.reply.temp(`upstream ${db.url} sent a malformed reply`);
}

/** No reply came, so smapd says why; a reply that did come is never replaced. */
function failed(db: SockmapDb, err: unknown): Reply {
  const R = db.ctx.reply;
  if (err instanceof ReplyTimeoutError) return R.timeout(`upstream ${db.url} did not answer within ${db.timeoutMs} ms`);
  if (err instanceof BackendError || err instanceof ConnectError) return R.temp(errorText(err));
  db.ctx.log.warn({ db: db.ctx.dbId, upstream: db.url, err: errorText(err) }, 'upstream lookup failed');
  return R.temp(`upstream ${db.url}: ${errorText(err)}`);
}

/** Hears the upstream's answer to one lookup and settles the lookup's Deferred with it: no promise on the way. */
class Relay implements ReplyHandler {
  constructor(
    private readonly db: SockmapDb,
    private readonly answer: Deferred<Reply>,
  ) {}

  resolve(payload: string): void {
    this.answer.resolve(relayed(this.db, payload));
  }

  reject(err: Error): void {
    this.answer.resolve(failed(this.db, err));
  }
}

function compileMap(ctx: DatabaseContext, source: string, where: string): Template | null {
  if (source === '${map}' || source === '$map') return null;
  const t = ctx.compileTemplate(source);
  for (const v of t.variables) {
    if (!(MAP_VARIABLES as readonly string[]).includes(v)) {
      throw new ModuleArgumentError(`${where}: map=: unknown variable \${${v}} (available: ${MAP_VARIABLES.map((m) => `\${${m}}`).join(', ')})`);
    }
  }
  if (t.variables.length === 0 && (source === '' || /[\s]/.test(source))) {
    throw new ModuleArgumentError(`${where}: map=${JSON.stringify(source)}: an upstream map name must be non-empty and without spaces`);
  }
  return t;
}

function checkUrl(url: string, where: string): void {
  // The client's own parser, so that what passes here is exactly what it connects to.
  try {
    parseServerUrl(url);
  } catch (err) {
    throw new ModuleArgumentError(`${where}: url=${url}: ${errorText(err)}`);
  }
}

export default defineModule<SockmapDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,

  answerDependsOn(db): readonly ClientField[] {
    return clientFieldsUsed(db.map?.variables ?? []);
  },

  init(args, ctx) {
    ctx.parseOptions(args, SOCKMAP_OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    const { values } = ctx.parseOptions([...ctx.moduleArgs, ...args], SOCKMAP_OPTIONS, { context: where });
    const url = values.url === undefined ? '' : String(values.url);
    if (url === '') throw new ModuleArgumentError(`${where}: url= is required (inet://HOST:PORT, inet6://[ADDR]:PORT or unix:///PATH)`);
    checkUrl(url, where);
    const connections = values.connections as number;
    if (!Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) {
      throw new ModuleArgumentError(`${where}: connections must be a whole number from 1 to ${MAX_CONNECTIONS}, not ${connections}`);
    }
    const timeoutMs = values.timeout as number;
    if (timeoutMs <= 0) throw new ModuleArgumentError(`${where}: timeout must be more than 0`);
    return { ctx, url, timeoutMs, connections, map: compileMap(ctx, String(values.map), where), upstream: null };
  },

  async openDb(db) {
    if (db.upstream !== null) return;
    const upstream = new Upstream({ url: db.url, timeoutMs: db.timeoutMs, connections: db.connections, log: db.ctx.log });
    try {
      await upstream.connectFirst();
    } catch (err) {
      await upstream.close();
      throw err instanceof BackendError ? err : new BackendError(`upstream ${db.url} unavailable: ${errorText(err)}`, { cause: err });
    }
    db.upstream = upstream;
  },

  query(db, map, key, conn): Reply | Deferred<Reply> {
    if (db.upstream === null) throw new BackendError(`database ${db.ctx.dbId} is not open`);
    const upstreamMap =
      db.map === null
        ? map
        : db.map.render((name) => (name === 'map' ? map : name === 'key' ? key : name === 'src' ? conn.src : name === 'dst' ? conn.dst : conn.serverId));
    const answer = new Deferred<Reply>();
    try {
      db.upstream.send(upstreamMap, key, new Relay(db, answer));
    } catch (err) {
      return failed(db, err);
    }
    return answer;
  },

  async closeDb(db) {
    const upstream = db.upstream;
    db.upstream = null;
    await upstream?.close();
  },
});
