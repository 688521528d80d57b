/**
 * The ldap module's options (GNU Smap's, plus `scope`, `timeout`, `connect-timeout` and `starttls`), and how
 * they combine with an ldap.conf-style file into the settings of one database. Precedence: an option of the
 * database statement beats one of the module statement, which beats the config file, which beats the
 * defaults. Files (config file, bindpwfile, CA bundle) are read here, at config check: no directory I/O.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModuleArgumentError, type DatabaseContext, type OptionSpec, type OptionValues } from '../../src/modules/api.js';
import { readLdapConf } from './ldap-conf.js';

/** GNU Smap's default, read only when it exists and no `config-file=` is given. */
export const DEFAULT_CONFIG_FILE = '/etc/ldap.conf';

export const DEFAULT_POSITIVE_REPLY = 'OK ${dn}';
export const DEFAULT_NEGATIVE_REPLY = 'NOTFOUND';
export const DEFAULT_ONERROR_REPLY = 'TEMP ${error}';
export const DEFAULT_TIMEOUT_REPLY = 'TIMEOUT ${error}';

export const LDAP_OPTIONS: OptionSpec = {
  'config-file': { type: 'string' },
  uri: { type: 'string' },
  base: { type: 'string' },
  binddn: { type: 'string' },
  bindpw: { type: 'string' },
  bindpwfile: { type: 'string' },
  'tls-cacert': { type: 'string', aliases: ['tls_cacert'] },
  starttls: { type: 'boolean', default: false },
  ldap_version: { type: 'number', aliases: ['ldap-version'] },
  filter: { type: 'string' },
  'join-delim': { type: 'string' },
  scope: { type: ['sub', 'one', 'base'], default: 'sub' },
  timeout: { type: 'duration', default: 5000 },
  'connect-timeout': { type: 'duration', default: 5000 },
  'positive-reply': { type: 'string', default: DEFAULT_POSITIVE_REPLY },
  'negative-reply': { type: 'string', default: DEFAULT_NEGATIVE_REPLY },
  'onerror-reply': { type: 'string', default: DEFAULT_ONERROR_REPLY },
  'timeout-reply': { type: 'string' },
};

/** One server to try: where to connect, and whether TLS starts at once (ldaps). */
export interface LdapServer {
  /** The URI as written, for logs. */
  readonly uri: string;
  readonly host: string;
  readonly port: number;
  /** Set for `ldapi://`: the unix socket path. */
  readonly socketPath: string | undefined;
  readonly tls: boolean;
}

export interface LdapSettings {
  /** Tried in order at every (re)connect: the first that answers is used. */
  readonly servers: readonly LdapServer[];
  readonly base: string;
  /** Simple bind DN; undefined binds anonymously. */
  readonly bindDn: string | undefined;
  readonly bindPassword: string;
  /** PEM CA bundle for ldaps:// and starttls; undefined uses the system's CAs. */
  readonly ca: Buffer | undefined;
  readonly startTls: boolean;
  readonly scope: 'sub' | 'one' | 'base';
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
}

const LDAP_PORT = 389;
const LDAPS_PORT = 636;
const DEFAULT_LDAPI_SOCKET = '/var/run/slapd/ldapi';

/** Parse one `ldap://host:port`, `ldaps://…` or `ldapi://%2Fpath` URI. */
export function parseLdapUri(uri: string, where: string): LdapServer {
  const m = /^(ldaps?|ldapi):\/\/([^/?]*)\/?(?:\?.*)?$/i.exec(uri);
  if (m === null) throw new ModuleArgumentError(`${where}: '${uri}' is not an LDAP URI (ldap://HOST[:PORT], ldaps://..., ldapi://PATH)`);
  const scheme = m[1]!.toLowerCase();
  const hostport = m[2]!;
  if (scheme === 'ldapi') {
    const socketPath = hostport === '' ? DEFAULT_LDAPI_SOCKET : decodeURIComponent(hostport);
    if (!socketPath.startsWith('/')) throw new ModuleArgumentError(`${where}: ldapi URI '${uri}' must name an absolute socket path (%2F for /)`);
    return { uri, host: 'localhost', port: 0, socketPath, tls: false };
  }
  const tls = scheme === 'ldaps';
  const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(hostport);
  if (hp === null) throw new ModuleArgumentError(`${where}: bad host or port in LDAP URI '${uri}'`);
  const host = (hp[1] ?? '').replace(/^\[|\]$/g, '') || 'localhost';
  const port = hp[2] === undefined ? (tls ? LDAPS_PORT : LDAP_PORT) : Number(hp[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ModuleArgumentError(`${where}: bad port in LDAP URI '${uri}'`);
  return { uri, host, port, socketPath: undefined, tls };
}

function str(v: OptionValues[string]): string | undefined {
  return v === undefined ? undefined : String(v);
}

function readSecretFile(file: string, where: string): string {
  try {
    // The first line, as ldap clients take a password file; a trailing newline is not part of it.
    return readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (err) {
    throw new ModuleArgumentError(`${where}: cannot read bindpwfile ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readCa(file: string, where: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ModuleArgumentError(`${where}: cannot read tls-cacert ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Parse the module's and the database's words, with the config file's settings below them. Returns the
 * option values (defaults filled in) and which were given anywhere.
 */
export function parseLdapOptions(args: readonly string[], ctx: DatabaseContext, where: string): { values: OptionValues; given: ReadonlySet<string> } {
  const words = [...ctx.moduleArgs, ...args];
  const first = ctx.parseOptions(words, LDAP_OPTIONS, { context: where });
  let file = str(first.values['config-file']);
  if (file === undefined && !first.given.has('config-file') && existsSync(DEFAULT_CONFIG_FILE)) file = DEFAULT_CONFIG_FILE;
  if (file === undefined || file === '') return first;
  const resolved = path.resolve(ctx.configDir, file);
  let conf: Map<string, string>;
  try {
    conf = readLdapConf(resolved);
  } catch (err) {
    throw new ModuleArgumentError(`${where}: ${(err as Error).message}`);
  }
  const confWords = [...conf].map(([k, v]) => `${k}=${v}`);
  // Checked on their own first, so that a bad value names the file it came from.
  ctx.parseOptions(confWords, LDAP_OPTIONS, { context: `${where}: ${resolved}` });
  return ctx.parseOptions([...confWords, ...words], LDAP_OPTIONS, { context: where });
}

/** Turn option values into connection settings; every problem is a config error. */
export function resolveSettings(values: OptionValues, configDir: string, where: string): LdapSettings {
  const uris = (str(values.uri) ?? 'ldap://localhost').split(/[\s,]+/).filter((u) => u !== '');
  if (uris.length === 0) throw new ModuleArgumentError(`${where}: uri= names no server`);
  const servers = uris.map((u) => parseLdapUri(u, where));
  const version = values.ldap_version;
  if (version !== undefined && version !== 3) throw new ModuleArgumentError(`${where}: ldap_version=${version}: only LDAPv3 is supported`);
  const bindDn = str(values.binddn) || undefined;
  let bindPassword = str(values.bindpw) ?? '';
  const pwFile = str(values.bindpwfile);
  if (pwFile !== undefined && pwFile !== '') bindPassword = readSecretFile(path.resolve(configDir, pwFile), where);
  if (bindDn === undefined && bindPassword !== '') throw new ModuleArgumentError(`${where}: a bind password is given but no binddn=`);
  const caFile = str(values['tls-cacert']);
  const ca = caFile === undefined || caFile === '' ? undefined : readCa(path.resolve(configDir, caFile), where);
  const startTls = values.starttls === true;
  if (startTls && servers.some((s) => s.tls || s.socketPath !== undefined)) {
    throw new ModuleArgumentError(`${where}: starttls applies to ldap:// URIs only`);
  }
  const timeoutMs = values.timeout as number;
  const connectTimeoutMs = values['connect-timeout'] as number;
  if (timeoutMs <= 0) throw new ModuleArgumentError(`${where}: timeout must be more than 0`);
  if (connectTimeoutMs <= 0) throw new ModuleArgumentError(`${where}: connect-timeout must be more than 0`);
  return {
    servers,
    base: str(values.base) ?? '',
    bindDn,
    bindPassword,
    ca,
    startTls,
    scope: values.scope as LdapSettings['scope'],
    timeoutMs,
    connectTimeoutMs,
  };
}
