/**
 * The validated, frozen configuration. The parser produces it once; nothing changes it afterwards (a reload
 * builds a whole new one). Every declaration keeps its source location for `file:line` messages.
 */
import type { SourceLocation } from '../errors.js';

/** Where a listener listens. */
export type ListenUrl =
  | { readonly kind: 'inet'; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: 'inet6'; readonly host: string; readonly port: number; readonly text: string }
  | { readonly kind: 'unix'; readonly path: string; readonly text: string };

export interface ServerDecl {
  readonly id: string;
  readonly url: ListenUrl;
  readonly backlog: number;
  /** 0 = unlimited (the global limit still applies). */
  readonly maxConnections: number;
  /** For unix sockets: file mode, e.g. 0o600. */
  readonly socketMode: number;
  /**
   * For unix sockets: owner and group names (or numeric ids as strings); undefined = leave as created.
   * A user without a group means that user's primary group (as `chown user:` does). Without a
   * `socket-owner` statement it is the server's own `user`, if the block sets one (GNU Smap does the same).
   */
  readonly socketOwner: { readonly user?: string; readonly group?: string } | undefined;
  /** Per-server privileges for the connections it serves (GNU Smap's per-child user); undefined = global. */
  readonly user: string | undefined;
  /** Supplementary groups to keep for this server, in addition to the user's primary group. */
  readonly groups: readonly string[];
  readonly allGroups: boolean;
  /** Idle timeout for this server's connections in ms; undefined = the global one. */
  readonly idleTimeout: number | undefined;
  /** Request timeout for this server's connections in ms; undefined = the global one. */
  readonly requestTimeout: number | undefined;
  /** For an IPv6 listener: accept IPv6 clients only; false = dual-stack (`[::]` takes IPv4 clients too). */
  readonly ipv6Only: boolean;
  readonly reuseAddr: boolean;
  readonly loc: SourceLocation;
}

export interface ModuleDecl {
  readonly id: string;
  /** The module name or path as written (`echo`, `./mymod.js`, `/abs/path/mod.js`). */
  readonly name: string;
  readonly args: readonly string[];
  readonly loc: SourceLocation;
}

export interface CacheDecl {
  /** Positive-answer TTL in ms. */
  readonly ttl: number;
  /** NOTFOUND/NOMORE TTL in ms (0 = do not cache negative answers). */
  readonly negativeTtl: number;
  /** Most entries. */
  readonly size: number;
  /** Most bytes (keys + replies). */
  readonly bytes: number;
}

export interface DatabaseDecl {
  readonly id: string;
  readonly moduleId: string;
  readonly args: readonly string[];
  /** Per-query timeout in ms for async modules (TIMEOUT reply); 0 = none. */
  readonly timeout: number;
  readonly cache: CacheDecl | undefined;
  readonly loc: SourceLocation;
}

export type MatchOp = 'eq' | 'like' | 'regexp';

export type Condition =
  | { readonly kind: 'not'; readonly cond: Condition; readonly loc: SourceLocation }
  /** `from ADDR`, `from ADDR/LEN`, `from ADDR/DOTTED.MASK`, or `from /unix/path`, as written. */
  | { readonly kind: 'from'; readonly spec: string; readonly loc: SourceLocation }
  | { readonly kind: 'server'; readonly id: string; readonly loc: SourceLocation }
  | {
      readonly kind: 'map' | 'key';
      readonly op: MatchOp;
      /** For `regexp`: the pattern text as written, with its delimiters and flags (`/re/i`). */
      readonly pattern: string;
      readonly loc: SourceLocation;
    };

export type RuleAction =
  | { readonly kind: 'database'; readonly db: string }
  | { readonly kind: 'transform'; readonly target: 'map' | 'key'; readonly db: string };

export interface RuleDecl {
  readonly conditions: readonly Condition[];
  readonly action: RuleAction;
  /** `dispatch default database X`. */
  readonly isDefault: boolean;
  readonly loc: SourceLocation;
}

export type LogDestination = 'stderr' | 'stdout' | 'syslog' | 'file';
export type LogFormat = 'text' | 'json' | 'auto';

export interface SmapdConfig {
  /** Absolute path of the main config file. */
  readonly file: string;
  readonly inetdMode: boolean;
  readonly pidfile: string | undefined;
  readonly foreground: boolean;
  /** ms; 0 = never. */
  readonly idleTimeout: number;
  /** ms to wait for in-flight requests on stop before closing connections. */
  readonly shutdownTimeout: number;
  /** Global connection limit; 0 = unlimited. */
  readonly maxConnections: number;
  /** Open connections one client address may hold; 0 = no limit. Unix-socket clients are not counted. */
  readonly maxConnectionsPerAddress: number;
  /** When a connection limit is reached: close an idle or stalled connection to make room, or refuse the new one. */
  readonly whenFull: 'evict' | 'refuse';
  /** ms a client may take to finish sending a request it has started, or to read replies held back; 0 = never. */
  readonly requestTimeout: number;
  /** Bytes of replies a connection may hold unsent before smapd stops answering and reading it. */
  readonly maxReplyBuffer: number;
  readonly backlog: number;
  readonly reuseAddr: boolean;
  /** Default unix socket mode. */
  readonly socketMode: number;
  /** Largest request payload accepted, bytes. */
  readonly maxRequestSize: number;
  /** Largest reply payload sent, bytes; longer answers become `PERM`. */
  readonly maxReplySize: number;
  /** Worker processes (node:cluster); 1 = serve in the main process. */
  readonly workers: number;
  readonly user: string | undefined;
  readonly groups: readonly string[];
  readonly allGroups: boolean;
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
    readonly destination: LogDestination;
    /** For destination 'file'. */
    readonly file: string | undefined;
    readonly tag: string;
    readonly facility: string;
    /**
     * `text`: one human line per event; `json`: pino's JSON lines; `auto`: text when stderr is a terminal or
     * the journal (systemd's JOURNAL_STREAM), JSON otherwise (files, pipes to a log shipper).
     */
    readonly format: LogFormat;
    /** `debug` spec as given: category → level. */
    readonly debug: Readonly<Record<string, number>>;
  };
  readonly trace: boolean;
  /** Trace only replies that start with one of these (empty = all). */
  readonly tracePatterns: readonly string[];
  /** Module search path, in order (prepend-load-path, then load-path/append-load-path); built-ins last. */
  readonly loadPath: readonly string[];
  /** Control socket path (unix), or undefined. */
  readonly controlSocket: string | undefined;
  /** HTTP metrics/health listener, `host:port`, or undefined. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  readonly servers: readonly ServerDecl[];
  readonly modules: readonly ModuleDecl[];
  readonly databases: readonly DatabaseDecl[];
  readonly rules: readonly RuleDecl[];
}
