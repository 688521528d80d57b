/**
 * The mysql module's options, and how they combine with my.cnf into the settings of one connection pool.
 * Precedence: an option in smapd.conf (database statement, then module statement) beats the option file,
 * which beats the built-in defaults.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { ModuleArgumentError, type OptionSpec, type OptionValues } from '../../src/modules/api.js';
import { REPLY_OPTIONS } from '../sql-common/replies.js';
import { groupOptions, readOptionFile } from './mycnf.js';

/** Read only when it exists and no config-file= is given, as libmysqlclient does. */
export const DEFAULT_CONFIG_FILE = '/etc/my.cnf';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 3306;
/**
 * Connections per database (per worker process), at most. 2: with lookups pipelined at 16 in flight, one
 * connection cost the least smapd CPU per lookup, 2 and 4 about a fifth more (within the noise of each
 * other), 8 more still (docs/performance.md). One would put every lookup behind a slow query until its
 * timeout; with two, lookups go to the other connection while one is stuck.
 */
export const DEFAULT_POOL_SIZE = 2;

export const MYSQL_OPTIONS: OptionSpec = {
  'config-file': { type: 'string' },
  'config-group': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'number' },
  socket: { type: 'string' },
  'ssl-ca': { type: 'string' },
  database: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  query: { type: 'string' },
  'pool-size': { type: 'number', default: DEFAULT_POOL_SIZE },
  // GNU Smap's "use the module's connection"; smapd does that for any database without connection options.
  defaultdb: { type: 'boolean', default: false },
  timeout: { type: 'duration', default: 5000 },
  'connect-timeout': { type: 'duration', default: 5000 },
  ...REPLY_OPTIONS,
};

/** Where and how to connect; equal settings share one pool. */
export interface ConnectionSettings {
  /** TCP host, or undefined when `socketPath` is used. */
  readonly host: string | undefined;
  readonly port: number;
  readonly socketPath: string | undefined;
  readonly user: string;
  readonly password: string;
  readonly database: string | undefined;
  /** Absolute path of the CA bundle that turns TLS on, read when the pool is made. */
  readonly sslCa: string | undefined;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
}

function str(v: OptionValues[string]): string | undefined {
  return v === undefined ? undefined : String(v);
}

function checkPort(value: string, where: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ModuleArgumentError(`${where}: port must be 1-65535, not '${value}'`);
  return n;
}

/** Resolve the connection settings of one database; file problems are config errors (no server I/O here). */
export function resolveSettings(values: OptionValues, given: ReadonlySet<string>, configDir: string, where: string): ConnectionSettings {
  let cnfFile = str(values['config-file']);
  if (cnfFile === undefined && !given.has('config-file') && existsSync(DEFAULT_CONFIG_FILE)) cnfFile = DEFAULT_CONFIG_FILE;
  const group = str(values['config-group']);
  if (group !== undefined && (cnfFile === undefined || cnfFile === '')) {
    const why = given.has('config-file') ? 'config-file= is empty' : `${DEFAULT_CONFIG_FILE} (libmysqlclient's default, read when it exists) does not exist`;
    throw new ModuleArgumentError(
      `${where}: config-group=${group} needs an option file, and ${why}: name the file with config-file=PATH (Debian keeps it in /etc/mysql/my.cnf)`,
    );
  }
  let cnf = new Map<string, string>();
  if (cnfFile !== undefined && cnfFile !== '') {
    const file = path.resolve(configDir, cnfFile);
    const parsed = readOptionFile(file);
    if (group !== undefined && !parsed.has(group.toLowerCase())) {
      throw new ModuleArgumentError(`${where}: option file ${file} has no [${group}] group`);
    }
    cnf = groupOptions(parsed, group === undefined ? ['client'] : ['client', group]);
  }
  const pick = (name: string): string | undefined => str(values[name]) ?? cnf.get(name);

  const rawPort = pick('port');
  const port = rawPort === undefined ? DEFAULT_PORT : checkPort(rawPort, where);
  const host = pick('host');
  const socket = pick('socket');
  // libmysqlclient's rule: the socket is used when no host is named, or the host is "localhost".
  const useSocket = socket !== undefined && socket !== '' && (host === undefined || host === 'localhost');
  const sslCaRaw = pick('ssl-ca');
  const sslCa = sslCaRaw === undefined || sslCaRaw === '' ? undefined : path.resolve(configDir, sslCaRaw);
  if (sslCa !== undefined) {
    try {
      accessSync(sslCa, constants.R_OK);
    } catch (err) {
      throw new ModuleArgumentError(`${where}: ssl-ca file ${sslCa} is not readable: ${(err as Error).message}`);
    }
  }
  const poolSize = values['pool-size'] as number;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 256) {
    throw new ModuleArgumentError(`${where}: pool-size must be an integer from 1 to 256, not ${poolSize}`);
  }
  const connectTimeoutMs = values['connect-timeout'] as number;
  if (connectTimeoutMs <= 0) throw new ModuleArgumentError(`${where}: connect-timeout must be more than 0`);
  return {
    host: useSocket ? undefined : host === undefined || host === '' ? DEFAULT_HOST : host,
    port,
    socketPath: useSocket ? path.resolve(configDir, socket!) : undefined,
    // libmysqlclient logs in as the current login name when no user is given.
    user: pick('user') ?? userInfo().username,
    password: pick('password') ?? '',
    database: pick('database') || undefined,
    sslCa,
    poolSize,
    connectTimeoutMs,
  };
}

/** The options that say where and as whom to connect: what `defaultdb` takes from the module statement. */
const CONNECTION_OPTIONS = ['config-file', 'config-group', 'host', 'port', 'socket', 'ssl-ca', 'database', 'user', 'password'];

/**
 * GNU Smap's `defaultdb` (a database statement's "use the module's connection"). smapd does that already for
 * a database that names no connection option, so the word is accepted with a hint; with connection options of
 * its own on the same statement it contradicts itself, which is an error. `dbGiven`: the options the
 * database statement names (not the module's).
 */
export function checkDefaultDb(dbGiven: ReadonlySet<string>, where: string): string | undefined {
  if (!dbGiven.has('defaultdb')) return undefined;
  const own = CONNECTION_OPTIONS.filter((o) => dbGiven.has(o));
  if (own.length > 0) {
    throw new ModuleArgumentError(`${where}: defaultdb means the module's connection, but the database names its own (${own.join(', ')}); drop one or the other`);
  }
  return "defaultdb (GNU Smap) is not needed: a database without connection options uses the module statement's; it can be removed";
}

/** `host:port` or the socket path, for messages. */
export function describeServer(s: ConnectionSettings): string {
  return s.socketPath !== undefined ? `unix:${s.socketPath}` : `${s.host}:${s.port}`;
}
