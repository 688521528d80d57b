/**
 * The postgres module's options, and how they resolve into the settings of one database's connections.
 * GNU Smap passed every `keyword=value` word that was not its own to libpq's PQconnectdb; smapd takes the
 * same libpq keywords and resolves them as libpq does: the config (database statement, then module
 * statement), then the service file (`service=`), then the PG* environment variables, then the defaults.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { ModuleArgumentError, type OptionSpec, type OptionValues } from '../../src/modules/api.js';
import { REPLY_OPTIONS } from '../sql-common/replies.js';
import { readService } from './service-file.js';

/** libpq's connection keywords that smapd understands (GNU Smap's list, without Kerberos). */
export const CONNINFO_KEYWORDS = [
  'host',
  'hostaddr',
  'port',
  'dbname',
  'user',
  'password',
  'connect_timeout',
  'options',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslcrl',
  'service',
] as const;
export type ConninfoKeyword = (typeof CONNINFO_KEYWORDS)[number];

/** The environment variable libpq reads for each keyword. */
const ENVIRONMENT: Readonly<Record<ConninfoKeyword, string>> = {
  host: 'PGHOST',
  hostaddr: 'PGHOSTADDR',
  port: 'PGPORT',
  dbname: 'PGDATABASE',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  options: 'PGOPTIONS',
  sslmode: 'PGSSLMODE',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslrootcert: 'PGSSLROOTCERT',
  sslcrl: 'PGSSLCRL',
  service: 'PGSERVICE',
};

/** Debian's (and most distributions') libpq default: the server's unix socket directory. */
export const DEFAULT_HOST = '/var/run/postgresql';
export const DEFAULT_PORT = 5432;
/**
 * The most connections per database and server (per worker process). Lookups are pipelined and pack onto few
 * connections (servers.ts), so a steady load of 16 in flight uses about 2 whatever this is; the cap is for
 * bursts and slow queries, and 8 keeps workers x databases x pool-size well under PostgreSQL's default
 * max_connections of 100 (docs/performance.md, "postgres over its own connections").
 */
export const DEFAULT_POOL_SIZE = 8;
/** libpq waits for ever when connect_timeout is unset; a map lookup cannot. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export const POSTGRES_OPTIONS: OptionSpec = {
  ...Object.fromEntries(CONNINFO_KEYWORDS.map((k) => [k, { type: 'string' } as const])),
  // Accepted by libpq and listed by GNU Smap, but the pure-JS driver has no Kerberos: a clear error beats
  // "unknown option".
  krbsrvname: { type: 'string' },
  query: { type: 'string' },
  'pool-size': { type: 'number', default: DEFAULT_POOL_SIZE },
  timeout: { type: 'duration', default: 5000 },
  ...REPLY_OPTIONS,
};

/** One server to try: `address` is where to connect (hostaddr, or host), `host` the name TLS checks. */
export interface Endpoint {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** A unix socket directory (`address` starts with `/`): the socket is `address/.s.PGSQL.port`. */
  readonly socket: boolean;
  /** `host:port` or the socket path, for messages. */
  readonly label: string;
}

export interface SslSettings {
  readonly mode: SslMode;
  /** A CA file, or `system` for Node's bundled roots; undefined: no CA given. */
  readonly rootCert: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly crl: string | undefined;
}

export interface PostgresSettings {
  /** Tried in order; the first one that accepts a connection serves it (failover to a replica). */
  readonly endpoints: readonly Endpoint[];
  readonly user: string;
  /** Undefined: the driver looks in ~/.pgpass (or $PGPASSFILE), as libpq does. */
  readonly password: string | undefined;
  readonly database: string;
  readonly options: string | undefined;
  readonly connectTimeoutMs: number;
  readonly ssl: SslSettings;
  readonly poolSize: number;
}

function text(v: OptionValues[string]): string | undefined {
  return v === undefined ? undefined : String(v);
}

function readable(file: string, what: string, where: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new ModuleArgumentError(`${where}: ${what} file ${file} is not readable: ${(err as Error).message}`);
  }
  return file;
}

function parsePort(value: string, where: string): number {
  if (value === '') return DEFAULT_PORT;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new ModuleArgumentError(`${where}: port must be 1-65535, not '${value}'`);
  return n;
}

/** libpq's host lists: `host=a,b port=5432,5433` (one port for all, or one each), `hostaddr` likewise. */
export function parseEndpoints(host: string | undefined, hostaddr: string | undefined, port: string | undefined, where: string): Endpoint[] {
  const hosts = host === undefined || host === '' ? [] : host.split(',').map((h) => h.trim());
  const addrs = hostaddr === undefined || hostaddr === '' ? [] : hostaddr.split(',').map((h) => h.trim());
  if (hosts.length > 0 && addrs.length > 0 && hosts.length !== addrs.length) {
    throw new ModuleArgumentError(`${where}: host lists ${hosts.length} servers but hostaddr lists ${addrs.length}`);
  }
  const count = Math.max(hosts.length, addrs.length, 1);
  const ports = port === undefined || port === '' ? [''] : port.split(',').map((p) => p.trim());
  if (ports.length !== 1 && ports.length !== count) {
    throw new ModuleArgumentError(`${where}: port lists ${ports.length} ports for ${count} servers (give one, or one per server)`);
  }
  const endpoints: Endpoint[] = [];
  for (let i = 0; i < count; i++) {
    const name = hosts[i] || DEFAULT_HOST;
    const address = addrs[i] || name;
    const p = parsePort(ports.length === 1 ? ports[0]! : ports[i]!, where);
    const socket = address.startsWith('/');
    if (addrs[i] && socket) throw new ModuleArgumentError(`${where}: hostaddr must be a numeric address, not ${addrs[i]}`);
    endpoints.push({ host: name, address, port: p, socket, label: socket ? `${address}/.s.PGSQL.${p}` : `${address}:${p}` });
  }
  return endpoints;
}

function resolveSsl(pick: (k: ConninfoKeyword) => string | undefined, configDir: string, where: string): SslSettings {
  const mode = (pick('sslmode') ?? 'prefer') as SslMode;
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new ModuleArgumentError(`${where}: sslmode must be one of ${SSL_MODES.join(', ')}, not '${mode}'`);
  }
  const file = (k: ConninfoKeyword, fallback: string, what: string): string | undefined => {
    const given = pick(k);
    if (given !== undefined && given !== '') return readable(path.resolve(configDir, given), what, where);
    // libpq's default files are used only when they exist.
    const def = path.join(homedir(), '.postgresql', fallback);
    return existsSync(def) ? readable(def, what, where) : undefined;
  };
  const rootGiven = pick('sslrootcert');
  const rootCert = rootGiven === 'system' ? 'system' : file('sslrootcert', 'root.crt', 'sslrootcert');
  if ((mode === 'verify-ca' || mode === 'verify-full') && rootCert === undefined) {
    throw new ModuleArgumentError(`${where}: sslmode=${mode} needs sslrootcert=FILE (or sslrootcert=system) to check the server against`);
  }
  let cert = file('sslcert', 'postgresql.crt', 'sslcert');
  let key = file('sslkey', 'postgresql.key', 'sslkey');
  if ((cert === undefined) !== (key === undefined)) {
    if (pick('sslcert') !== undefined || pick('sslkey') !== undefined) {
      throw new ModuleArgumentError(`${where}: a client certificate needs both sslcert and sslkey`);
    }
    // Half of libpq's default pair exists: libpq would fail on it; sending no certificate is safer.
    cert = key = undefined;
  }
  return { mode, rootCert, cert, key, crl: file('sslcrl', 'root.crl', 'sslcrl') };
}

/** Resolve one database's settings; file problems are config errors (no server I/O here). */
export function resolveSettings(values: OptionValues, configDir: string, where: string, env: NodeJS.ProcessEnv = process.env): PostgresSettings {
  if (values.krbsrvname !== undefined) {
    throw new ModuleArgumentError(`${where}: krbsrvname: Kerberos (GSSAPI) authentication is not supported; use password, scram or TLS client certificates`);
  }
  const serviceName = text(values.service) ?? env.PGSERVICE;
  const service = serviceName === undefined || serviceName === '' ? new Map<string, string>() : readService(serviceName, env);
  const pick = (k: ConninfoKeyword): string | undefined => text(values[k]) ?? service.get(k) ?? env[ENVIRONMENT[k]];

  const endpoints = parseEndpoints(pick('host'), pick('hostaddr'), pick('port'), where);
  const rawTimeout = pick('connect_timeout');
  let connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS;
  if (rawTimeout !== undefined && rawTimeout !== '') {
    if (!/^\d+$/.test(rawTimeout)) throw new ModuleArgumentError(`${where}: connect_timeout must be a whole number of seconds, not '${rawTimeout}'`);
    // libpq reads 0 as "no limit" (the lookup's timeout still bounds the wait) and raises 1 to 2 seconds.
    const seconds = Number(rawTimeout);
    connectTimeoutMs = seconds === 0 ? 0 : Math.max(seconds, 2) * 1000;
  }
  const poolSize = values['pool-size'] as number;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 256) {
    throw new ModuleArgumentError(`${where}: pool-size must be an integer from 1 to 256, not ${poolSize}`);
  }
  // libpq logs in as the current login name, and the database defaults to the user name.
  const user = pick('user') || userInfo().username;
  return {
    endpoints,
    user,
    password: pick('password'),
    database: pick('dbname') || user,
    options: pick('options') || undefined,
    connectTimeoutMs,
    ssl: resolveSsl(pick, configDir, where),
    poolSize,
  };
}
