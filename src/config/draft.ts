/**
 * The configuration while it is being read: mutable, with server settings that inherit a global value left
 * unset until the end, because GNU Smap lets a global `backlog` or `socket-mode` come after the servers.
 * `finishDraft` fills the defaults, runs the checks that need the whole file, and freezes the result.
 */
import { ConfigError, type SourceLocation } from '../errors.js';
import type { DatabaseDecl, ListenUrl, ModuleDecl, RuleDecl, ServerDecl, SmapdConfig } from './types.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export const DEFAULTS = {
  idleTimeout: 600_000,
  shutdownTimeout: 5_000,
  maxConnections: 1024,
  maxConnectionsPerAddress: 0,
  whenFull: 'evict',
  requestTimeout: 30_000,
  // What the C reference server lets a connection's output grow to before it stops reading.
  maxReplyBuffer: 256 * 1024,
  backlog: 128,
  reuseAddr: true,
  socketMode: 0o600,
  maxRequestSize: 100_000,
  maxReplySize: 100_000,
  workers: 1,
  logLevel: 'info',
  logTag: 'smapd',
  logFacility: 'daemon',
} as const;

export interface ServerDraft {
  id: string;
  url: ListenUrl;
  backlog: number | undefined;
  maxConnections: number;
  socketMode: number | undefined;
  socketOwner: { user?: string; group?: string } | undefined;
  idleTimeout: number | undefined;
  requestTimeout: number | undefined;
  ipv6Only: boolean | undefined;
  reuseAddr: boolean | undefined;
  user: string | undefined;
  groups: string[];
  allGroups: boolean;
  loc: SourceLocation;
}

export interface Draft extends Omit<Mutable<SmapdConfig>, 'servers' | 'log' | 'loadPath' | 'modules' | 'databases' | 'rules' | 'groups' | 'tracePatterns'> {
  log: Mutable<SmapdConfig['log']> & { debug: Record<string, number> };
  groups: string[];
  tracePatterns: string[];
  /** `prepend-load-path` directories, in the order written. */
  prependPath: string[];
  /** `load-path` / `append-load-path` directories, in the order written. */
  appendPath: string[];
  servers: ServerDraft[];
  modules: ModuleDecl[];
  databases: DatabaseDecl[];
  rules: RuleDecl[];
}

export function newDraft(file: string): Draft {
  return {
    file,
    inetdMode: false,
    pidfile: undefined,
    foreground: false,
    idleTimeout: DEFAULTS.idleTimeout,
    shutdownTimeout: DEFAULTS.shutdownTimeout,
    maxConnections: DEFAULTS.maxConnections,
    maxConnectionsPerAddress: DEFAULTS.maxConnectionsPerAddress,
    whenFull: DEFAULTS.whenFull,
    requestTimeout: DEFAULTS.requestTimeout,
    maxReplyBuffer: DEFAULTS.maxReplyBuffer,
    backlog: DEFAULTS.backlog,
    reuseAddr: DEFAULTS.reuseAddr,
    socketMode: DEFAULTS.socketMode,
    maxRequestSize: DEFAULTS.maxRequestSize,
    maxReplySize: DEFAULTS.maxReplySize,
    workers: DEFAULTS.workers,
    user: undefined,
    groups: [],
    allGroups: false,
    log: {
      level: DEFAULTS.logLevel,
      destination: 'stderr',
      file: undefined,
      tag: DEFAULTS.logTag,
      facility: DEFAULTS.logFacility,
      format: 'auto',
      debug: {},
    },
    trace: false,
    tracePatterns: [],
    prependPath: [],
    appendPath: [],
    controlSocket: undefined,
    metricsListen: undefined,
    servers: [],
    modules: [],
    databases: [],
    rules: [],
  };
}

function where(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}`;
}

/** The error for a second declaration of an id, pointing at the first one as GNU Smap does. */
export function duplicateError(what: string, id: string, loc: SourceLocation, first: SourceLocation): ConfigError {
  return new ConfigError(`${what} '${id}' is already declared at ${where(first)}`, loc);
}

function finishServer(s: ServerDraft, d: Draft): ServerDecl {
  // GNU Smap chowns a unix socket to the server's own user when no socket-owner is given.
  const owner = s.socketOwner ?? (s.url.kind === 'unix' && s.user !== undefined ? { user: s.user } : undefined);
  return {
    id: s.id,
    url: s.url,
    backlog: s.backlog ?? d.backlog,
    maxConnections: s.maxConnections,
    socketMode: s.socketMode ?? d.socketMode,
    socketOwner: owner,
    idleTimeout: s.idleTimeout,
    requestTimeout: s.requestTimeout,
    ipv6Only: s.ipv6Only ?? false,
    reuseAddr: s.reuseAddr ?? d.reuseAddr,
    user: s.user,
    groups: s.groups,
    allGroups: s.allGroups,
    loc: s.loc,
  };
}

/**
 * Whether two listeners would fight over one address: the same unix path, or the same TCP port on the same
 * address or on a wildcard that covers it (`0.0.0.0` covers every IPv4 address; `::` every IPv6 address and,
 * dual-stack as it listens by default, every IPv4 one too). Port 0 means "any free port" and never clashes.
 */
export function addressesClash(a: ListenUrl, b: ListenUrl): boolean {
  if (a.kind === 'unix' || b.kind === 'unix') return a.kind === 'unix' && b.kind === 'unix' && a.path === b.path;
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.kind === b.kind) return a.host === b.host || a.host === WILDCARD[a.kind] || b.host === WILDCARD[b.kind];
  const v6 = a.kind === 'inet6' ? a : b;
  return v6.host === WILDCARD.inet6;
}

const WILDCARD = { inet: '0.0.0.0', inet6: '::' } as const;

/** Checks that need the whole configuration, whatever the order of statements. */
function crossCheck(d: Draft, errors: ConfigError[]): void {
  // Caught here, so that `smapd -t` says it, rather than the start failing with EADDRINUSE.
  d.servers.forEach((s, i) => {
    const first = d.servers.slice(0, i).find((o) => addressesClash(o.url, s.url));
    if (first !== undefined) {
      errors.push(new ConfigError(`server '${s.id}': ${s.url.text} is already used by server '${first.id}' (${first.url.text}) at ${where(first.loc)}`, s.loc));
    }
  });
  const moduleIds = new Set(d.modules.map((m) => m.id));
  for (const db of d.databases) {
    if (!moduleIds.has(db.moduleId)) {
      const known = moduleIds.size > 0 ? ` (declared modules: ${[...moduleIds].join(', ')})` : ' (no module statement declares it)';
      errors.push(new ConfigError(`database '${db.id}' uses undeclared module '${db.moduleId}'${known}`, db.loc));
    }
  }
}

/** Recursively freeze plain objects and arrays, so that nothing can change a loaded config. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

export function finishDraft(d: Draft, errors: ConfigError[]): SmapdConfig {
  crossCheck(d, errors);
  const config: SmapdConfig = {
    file: d.file,
    inetdMode: d.inetdMode,
    pidfile: d.pidfile,
    foreground: d.foreground,
    idleTimeout: d.idleTimeout,
    shutdownTimeout: d.shutdownTimeout,
    maxConnections: d.maxConnections,
    maxConnectionsPerAddress: d.maxConnectionsPerAddress,
    whenFull: d.whenFull,
    requestTimeout: d.requestTimeout,
    maxReplyBuffer: d.maxReplyBuffer,
    backlog: d.backlog,
    reuseAddr: d.reuseAddr,
    socketMode: d.socketMode,
    maxRequestSize: d.maxRequestSize,
    maxReplySize: d.maxReplySize,
    workers: d.workers,
    user: d.user,
    groups: d.groups,
    allGroups: d.allGroups,
    log: d.log,
    trace: d.trace,
    tracePatterns: d.tracePatterns,
    loadPath: [...d.prependPath, ...d.appendPath],
    controlSocket: d.controlSocket,
    metricsListen: d.metricsListen,
    servers: d.servers.map((s) => finishServer(s, d)),
    modules: d.modules,
    databases: d.databases,
    rules: d.rules,
  };
  return deepFreeze(config);
}
