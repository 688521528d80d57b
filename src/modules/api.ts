/**
 * The public module API, published as `smapd/module`: the one door into smapd for every module, built-in or
 * not. A module is an ES module file whose default export is a `SmapModule`; smapd loads it with `import()`
 * and resolves `smapd/module` to this file for it, wherever the module file is (api-resolution.ts). Modules
 * depend on this file and what it re-exports (the kit: reply options, shared resources, the text map
 * reader, the compact table, the error classes), never on the rest of the core; test/modules/boundary.test.ts keeps it so.
 *
 * Lifecycle, per database: `initDb` (validate arguments, no I/O to backends: `smapd -t` runs it) →
 * `openDb` (lazily, on first use, or at start with `openAtStart`; connect here) → `query` / `transform` → `closeDb` (on stop or reload;
 * called for every database that `initDb` made, opened or not). `init`/`done` bracket the module itself.
 */
import type { Logger } from 'pino';
import type { Reply, ReplyFormatter } from '../protocol/reply.js';
import type { parseOptions } from './options.js';
import type { compileTemplate } from './template.js';
import type { ReplyTemplate } from './reply-template.js';

export type { Reply, ReplyFormatter, ReplyStatus } from '../protocol/reply.js';
export type { OptionSpec, OptionValues, ParsedOptions } from './options.js';
export type { Template, TemplateVars } from './template.js';

// The kit: what the built-in modules use besides the context, offered to every module.
export type { ReplyTemplate, ReplyTemplateOptions, ReplyTemplateTools } from './reply-template.js';
export { compileReplyTemplate, replyPosition } from './reply-template.js';
export type { ReplyOptionRule, ReplyOptions, ReplyOptionsSpec, ReplyOptionTemplates } from './reply-options.js';
export { defineReplyOptions } from './reply-options.js';
export type { SharedResourceHooks } from './shared-resource.js';
export { SharedResources } from './shared-resource.js';
export type { TextMapEntryHandler, TextMapOptions } from '../maps/textmap.js';
export { parseTextMap, TextMapParser } from '../maps/textmap.js';
export type { ReadProgress, StreamTextMapOptions } from '../maps/textmap-reader.js';
export { streamTextMap } from '../maps/textmap-reader.js';
/** A compact read-only string table (one buffer of records and a hash index), for maps of millions of entries. */
export type { StringTable } from '../maps/compact-table.js';
export { CompactTable, CompactTableBuilder } from '../maps/compact-table.js';
export { SmapdError, ModuleArgumentError, BackendError, BackendTimeoutError, PatternError, TextMapSyntaxError } from '../errors.js';
// The POSIX pattern engine (linear-time): what the sed module uses, for any module that takes patterns.
export { compilePosixRegex, charAt } from '../posix/index.js';
export type { LinearRegExp, MatchScanner, PosixRegex, PosixRegexOptions } from '../posix/index.js';
/** The short reason a client may see for an error (`${error}` in reply templates); the detail belongs in the log. */
export { clientReason, CLIENT_REASONS } from '../errors.js';
/** One line that says what went wrong, for the log: the message, or the inner messages or code of an error without one. */
export { errorDetail } from '../errors.js';
// The sockmap client, for modules that forward lookups to another socketmap server.
export { SmapClient, parseServerUrl, type ReplyHandler, type SmapClientOptions } from '../client/client.js';
/** An answer to come without a promise: `query` may return one and settle it from a callback (deferred.ts). */
export { Deferred } from './deferred.js';
/** A queue with O(1) shift, for the requests in flight on a connection whose replies come back in order. */
export { Fifo } from '../client/fifo.js';
export { ConnectError, ConnectionClosedError, ReplyTimeoutError } from '../errors.js';
/**
 * A warning that may repeat many times a second (a failed lookup while a backend is down): the first is
 * logged at once, the rest counted and summed up in one line per interval (RATE_LOG_INTERVAL_MS, 10 s).
 */
export { RateLimitedWarning, RATE_LOG_INTERVAL_MS } from '../server/rate-log.js';

/** The current module API version; a module declares the version it was written for. */
export const MODULE_API_VERSION = 1;

/** What a module can do for a dispatch rule: answer (`database`) or rewrite (`transform`). */
export type Capability = 'query' | 'transform';

/**
 * The facts about a connection that a database's answer can depend on besides map and key (see
 * `SmapModule.answerDependsOn`); the port numbers are left out on purpose, as they change every connection.
 */
export type ClientField = 'src' | 'dst' | 'serverId';

/** All of them: what a module that does not say is taken to depend on. */
export const ALL_CLIENT_FIELDS: readonly ClientField[] = Object.freeze(['src', 'dst', 'serverId'] as const);

/** `answerDependsOn` for a module whose answers depend on map and key alone: the cache may share them. */
export const mapAndKeyOnly = (): readonly ClientField[] => [];

/**
 * `answerDependsOn` for a module whose answers are made from templates: the connection facts behind the request
 * variables `src`, `dst` and `server` that its templates (query, key, filter, replies) use.
 */
export function clientFieldsUsed(variables: Iterable<string>): ClientField[] {
  const used = new Set(variables);
  const fields: ClientField[] = [];
  if (used.has('src')) fields.push('src');
  if (used.has('dst')) fields.push('dst');
  if (used.has('server')) fields.push('serverId');
  return fields;
}

/** Who is asking: the client and the server it connected to. */
export interface ConnInfo {
  /** The `server` id of the listener (for inetd mode: `inetd`). */
  readonly serverId: string;
  /** `inet` (IPv4), `inet6`, or `unix`. */
  readonly family: 'inet' | 'inet6' | 'unix';
  /** Client address: dotted IPv4 (IPv4-mapped IPv6 is unmapped), IPv6, or '' for unix sockets. */
  readonly src: string;
  /** Client port, 0 for unix sockets. */
  readonly srcPort: number;
  /** Local address the client connected to, or the socket path for unix sockets. */
  readonly dst: string;
  /** Local port, 0 for unix sockets. */
  readonly dstPort: number;
}

/** What smapd hands a module: its id, a logger, and the shared helpers (so modules need no imports). */
export interface ModuleContext {
  /** The module id from the `module ID NAME` statement. */
  readonly moduleId: string;
  /** A pino child logger tagged with the module (and database) id. */
  readonly log: Logger;
  /** The shared reply formatter: the only way to make a `Reply`. */
  readonly reply: ReplyFormatter;
  /** `name=value` option parser for module arguments. */
  readonly parseOptions: typeof parseOptions;
  /** `${var}` text-template compiler. */
  readonly compileTemplate: typeof compileTemplate;
  /**
   * Reply-template compiler: `OK ${value}` → a template whose status word is fixed when it is compiled, so no
   * value (a key, a column) can choose the status. `allowed` lists the variables (undefined: any); `what` names
   * the option in error messages. For the usual reply options (`positive-reply=` and friends) use
   * `defineReplyOptions`, which compiles them all with this.
   */
  readonly compileReply: (text: string, allowed: readonly string[] | undefined, what: string) => ReplyTemplate;
  /** Directory of the config file; resolve relative paths from the config against it. */
  readonly configDir: string;
}

/** The context of one database: a module context plus the database's identity and module-level args. */
export interface DatabaseContext extends ModuleContext {
  /** The database name from the `database NAME MODID` statement. */
  readonly dbId: string;
  /** The arguments of the `module` statement, for defaults that a database's own arguments override. */
  readonly moduleArgs: readonly string[];
  /**
   * Tell smapd that the database's data changed underneath (a map file was reloaded), so answers cached
   * for it (`cache` block) are dropped. Cheap; a no-op when the database has no cache.
   */
  readonly dataChanged: () => void;
  /**
   * The database's `timeout` (its `begin … end` block, or smapd's default): past it smapd answers `TIMEOUT`
   * without waiting for the module. A module that can cancel work (a running SQL query) should do so by then,
   * so the work does not go on holding a connection nobody waits for.
   */
  readonly queryTimeoutMs: number;
}

/**
 * A smapd module. `Db` is the module's own per-database state, returned by `initDb` and passed back to every
 * other call. Any method may be sync or async; a sync answer is faster (no promise on the hot path).
 *
 * Errors: a thrown `BackendError` (or any error) in `openDb`/`query` answers `TEMP reason` and logs; smapd
 * calls `openDb` again on a later request. A thrown `ModuleArgumentError` in `initDb`/`init` is a config error.
 */
export interface SmapModule<Db = unknown> {
  /** The API version the module was written for: `MODULE_API_VERSION`. */
  readonly apiVersion: number;
  /** What the module can do; a rule that needs a missing capability is a config error. */
  readonly capabilities: readonly Capability[];
  /**
   * False when a database handle cannot be used by several processes at once (LevelDB's lock), so that
   * `workers N` with N > 1 is refused at config check. Default true.
   */
  readonly multiProcess?: boolean;
  /** Once per `module` statement, with its arguments. Validate them here. */
  init?(args: readonly string[], ctx: ModuleContext): void | Promise<void>;
  /** Once per `database` statement: parse and validate arguments, return the database state. No backend I/O. */
  initDb(args: readonly string[], ctx: DatabaseContext): Db | Promise<Db>;
  /**
   * Which connection facts this database's answers depend on besides map and key, so that the result
   * cache (a `cache` statement in the database's block) keeps answers for different clients apart. Return
   * `[]` when the answer depends on map and key alone. Called once, after `initDb`. A module without this
   * hook is taken to depend on all of them (`ALL_CLIENT_FIELDS`): always right, but its cache then holds
   * one answer per client address for the same key.
   */
  answerDependsOn?(db: Db): readonly ClientField[];
  /** Open the backend (connect, open files). Called lazily on first use, and again after a failure. */
  openDb?(db: Db): void | Promise<void>;
  /**
   * True: a daemon calls `openDb` when it starts and when a reload builds the new databases, before they
   * serve (before the listeners open, before the new config replaces the old), so no lookup waits for it.
   * For databases whose open loads data (the `file` module reads its whole map). A failure is logged and the
   * open is tried again on first use, as for a lazy open. `smapd -t` never calls it. Default false: lazy.
   */
  readonly openAtStart?: boolean;
  /**
   * Answer a lookup. Return a reply made by `ctx.reply`, at once or through a promise, or through a `Deferred`
   * that the module settles when the answer comes (from a callback; it makes no promise per lookup).
   */
  query?(db: Db, map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply>;
  /** Rewrite a map name or key for a `transform` rule; null leaves it unchanged. */
  transform?(db: Db, input: string, conn: ConnInfo): string | null | Promise<string | null>;
  /**
   * Administrative commands the database accepts over the control socket (`smapc --control db NAME CMD ARGS`),
   * e.g. the memory module's bind/resolve/remove/list. Each returns the text to show the administrator;
   * a throw is reported as an error to the administrator, never to mail clients.
   */
  readonly commands?: Readonly<Record<string, ControlCommand<Db>>>;
  /** Release the database's resources. Called for every database `initDb` made, opened or not. */
  closeDb?(db: Db): void | Promise<void>;
  /** Once at stop, after every database of the module is closed. */
  done?(): void | Promise<void>;
}

/** One administrative command of a module: `args` are the words after the command name. */
export interface ControlCommand<Db> {
  /** One line of help, e.g. `bind KEY VALUE [replace] — add a binding`. */
  readonly help: string;
  run(db: Db, args: readonly string[]): string | Promise<string>;
}

/** Identity helper that gives a module object its type: `export default defineModule({ ... })`. */
export function defineModule<Db>(module: SmapModule<Db>): SmapModule<Db> {
  return module;
}

// Keys are bytes (src/protocol/bytes.ts): a key that is not valid UTF-8 reaches `query` with each invalid byte
// as a lone surrogate U+DC80..U+DCFF. A backend that stores keys as bytes looks up `keyBytes(key)` (a Buffer)
// when `hasRawBytes(key)`; `bytesToText` decodes stored bytes the same way, so they come back byte for byte.
export { textBytes as keyBytes, decodeBytes as bytesToText, hasRawBytes } from '../protocol/bytes.js';
/** `fold-case`: full Unicode case folding as Postfix does it; use it wherever keys are folded. */
export { foldCase, CASE_FOLDING_UNICODE_VERSION } from './casefold.js';
