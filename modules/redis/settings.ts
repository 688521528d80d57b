/**
 * The redis module's options, checked once at config time: where the data is (`url=` for one server, or
 * `cluster=` for Redis Cluster seed nodes), which key (and hash field) a lookup reads, and the replies.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ModuleArgumentError, type DatabaseContext, type OptionSpec, type OptionValues, type ReplyTemplate, type Template } from '../../src/modules/api.js';

export const DEFAULT_PORT = 6379;
export const DEFAULT_KEY = '${map}:${key}';

export const REDIS_OPTIONS: OptionSpec = {
  url: { type: 'string' },
  cluster: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  tls: { type: 'boolean' },
  'tls-cacert': { type: 'string', aliases: ['tls_cacert'] },
  key: { type: 'string', default: DEFAULT_KEY },
  field: { type: 'string' },
  'positive-reply': { type: 'string', default: 'OK ${value}' },
  'negative-reply': { type: 'string', default: 'NOTFOUND' },
  'onerror-reply': { type: 'string', default: 'TEMP ${error}' },
  'timeout-reply': { type: 'string' },
  timeout: { type: 'duration', default: 5000 },
  'connect-timeout': { type: 'duration', default: 5000 },
};

/** What the key and field templates, and every reply, may use. */
export const REQUEST_VARIABLES = ['key', 'map', 'src', 'dst', 'server'] as const;

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface ServerSettings {
  /** One server, or the seed nodes of a cluster. */
  readonly mode: 'server' | 'cluster';
  readonly nodes: readonly Endpoint[];
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: boolean;
  /** PEM CA bundle that the server certificate must chain to; undefined: the system's CAs. */
  readonly tlsCa: string | undefined;
  readonly connectTimeoutMs: number;
  /** host:port list for messages and logs, without the password. */
  readonly describe: string;
}

export interface RedisReplies {
  readonly positive: ReplyTemplate;
  readonly negative: ReplyTemplate;
  readonly onerror: ReplyTemplate;
  readonly timeout: ReplyTemplate;
}

export interface RedisSettings {
  readonly server: ServerSettings;
  readonly key: Template;
  /** HGET this field of the key's hash; undefined: GET the key. */
  readonly field: Template | undefined;
  readonly replies: RedisReplies;
  readonly timeoutMs: number;
}

function endpoint(text: string, where: string): Endpoint {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+))(?::(\d+))?$/.exec(text.trim());
  if (m === null) throw new ModuleArgumentError(`${where}: '${text}' is not HOST:PORT`);
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ModuleArgumentError(`${where}: port ${m[3]} is out of range`);
  return { host: (m[1] ?? m[2])!, port };
}

function fromUrl(text: string, where: string): Omit<ServerSettings, 'connectTimeoutMs' | 'describe' | 'tlsCa'> {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ModuleArgumentError(`${where}: url=${text} is not a URL (redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://...)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ModuleArgumentError(`${where}: url= must start with redis:// or rediss:// (TLS), not ${u.protocol}//`);
  }
  if (u.hostname === '') throw new ModuleArgumentError(`${where}: url=${text} names no host`);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw new ModuleArgumentError(`${where}: url=: the path must be a database number, not '${path}'`);
  if (u.search !== '' || u.hash !== '') throw new ModuleArgumentError(`${where}: url=: query strings and fragments are not supported`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? DEFAULT_PORT : Number(u.port);
  return {
    mode: 'server',
    nodes: [{ host, port }],
    db: path === '' ? 0 : Number(path),
    username: u.username === '' ? undefined : decodeURIComponent(u.username),
    password: u.password === '' ? undefined : decodeURIComponent(u.password),
    tls: u.protocol === 'rediss:',
  };
}

function readCa(file: string, configDir: string, where: string): string {
  const abs = path.resolve(configDir, file);
  try {
    const pem = readFileSync(abs, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return pem;
  } catch (err) {
    throw new ModuleArgumentError(`${where}: tls-cacert=${abs}: ${(err as Error).message}`);
  }
}

function serverSettings(values: OptionValues, configDir: string, where: string): ServerSettings {
  const url = values.url === undefined ? undefined : String(values.url);
  const cluster = values.cluster === undefined ? undefined : String(values.cluster);
  if ((url === undefined) === (cluster === undefined)) {
    throw new ModuleArgumentError(`${where}: give either url=redis://HOST:PORT/DB or cluster=HOST:PORT,HOST:PORT (one of them)`);
  }
  const base =
    url !== undefined
      ? fromUrl(url, where)
      : {
          mode: 'cluster' as const,
          nodes: cluster!.split(',').filter((s) => s.trim() !== '').map((s) => endpoint(s, `${where}: cluster=`)),
          db: 0,
          username: undefined,
          password: undefined,
          tls: false,
        };
  if (base.nodes.length === 0) throw new ModuleArgumentError(`${where}: cluster= lists no node`);
  const connectTimeoutMs = values['connect-timeout'] as number;
  if (connectTimeoutMs <= 0) throw new ModuleArgumentError(`${where}: connect-timeout must be more than 0`);
  const tlsCa = values['tls-cacert'] === undefined || values['tls-cacert'] === '' ? undefined : readCa(String(values['tls-cacert']), configDir, where);
  if (values.tls === false && base.tls) throw new ModuleArgumentError(`${where}: notls contradicts url=rediss://`);
  return {
    ...base,
    // tls for cluster= (a URL says it with rediss://); a CA of its own implies TLS.
    tls: base.tls || values.tls === true || tlsCa !== undefined,
    tlsCa,
    // Options given on their own win over the URL's, so a password can stay out of a URL in a shared file.
    username: values.user !== undefined ? String(values.user) : base.username,
    password: values.password !== undefined ? String(values.password) : base.password,
    connectTimeoutMs,
    describe: base.nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(','),
  };
}

function requestTemplate(ctx: DatabaseContext, option: string, source: string, where: string): Template {
  const t = ctx.compileTemplate(source);
  for (const v of t.variables) {
    if (!(REQUEST_VARIABLES as readonly string[]).includes(v)) {
      throw new ModuleArgumentError(`${where}: ${option}=: unknown variable \${${v}} (available: ${REQUEST_VARIABLES.map((r) => `\${${r}}`).join(', ')})`);
    }
  }
  if (t.variables.length === 0) ctx.log.warn({ db: ctx.dbId }, `${option}=${source} uses no variable: every lookup reads the same thing`);
  return t;
}

function replies(ctx: DatabaseContext, values: OptionValues, given: ReadonlySet<string>): RedisReplies {
  const req = [...REQUEST_VARIABLES];
  // One knob for "fail open": an explicit onerror-reply also covers timeouts unless timeout-reply says otherwise.
  const timeoutSource =
    values['timeout-reply'] !== undefined ? String(values['timeout-reply']) : given.has('onerror-reply') ? String(values['onerror-reply']) : 'TIMEOUT ${error}';
  return {
    positive: ctx.compileReply(String(values['positive-reply']), ['value', ...req], 'positive-reply'),
    negative: ctx.compileReply(String(values['negative-reply']), req, 'negative-reply'),
    onerror: ctx.compileReply(String(values['onerror-reply']), ['error', ...req], 'onerror-reply'),
    timeout: ctx.compileReply(timeoutSource, ['error', ...req], 'timeout-reply'),
  };
}

export function resolveSettings(ctx: DatabaseContext, values: OptionValues, given: ReadonlySet<string>, where: string): RedisSettings {
  const timeoutMs = values.timeout as number;
  if (timeoutMs <= 0) throw new ModuleArgumentError(`${where}: timeout must be more than 0`);
  return {
    server: serverSettings(values, ctx.configDir, where),
    key: requestTemplate(ctx, 'key', String(values.key), where),
    field: values.field === undefined ? undefined : requestTemplate(ctx, 'field', String(values.field), where),
    replies: replies(ctx, values, given),
    timeoutMs,
  };
}
