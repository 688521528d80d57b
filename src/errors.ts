/**
 * The one error catalogue of smapd. Every error the daemon raises on purpose is a SmapdError subclass with
 * a stable `code`; code that catches errors tests `code`, never the message text.
 */

/** Exit codes, as sysexits(3) and GNU Smap use them. */
export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;
export const EX_CONFIG = 78;

/** Where a config statement came from, for `file:line: message` errors. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
}

export function formatLocation(loc: SourceLocation | undefined): string {
  return loc ? `${loc.file}:${loc.line}: ` : '';
}

export abstract class SmapdError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A malformed netstring or request: the connection that sent it is closed. */
export class ProtocolError extends SmapdError {
  readonly code = 'E_PROTOCOL';
}

/** A request whose announced length exceeds the configured cap; refused before it is buffered. */
export class RequestTooLargeError extends SmapdError {
  readonly code = 'E_REQUEST_TOO_LARGE';
}

/** A bad configuration; the message already starts with `file:line: ` when the place is known. */
export class ConfigError extends SmapdError {
  readonly code = 'E_CONFIG';
  readonly loc: SourceLocation | undefined;
  constructor(message: string, loc?: SourceLocation, options?: { cause?: unknown }) {
    super(formatLocation(loc) + message, options);
    this.loc = loc;
  }
}

/** Several config errors found in one pass; `smapd -t` prints them all. */
export class ConfigErrors extends SmapdError {
  readonly code = 'E_CONFIG_MANY';
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.errors = errors;
  }
}

/** A module file that cannot be found, imported, or does not export a valid module object. */
export class ModuleLoadError extends SmapdError {
  readonly code = 'E_MODULE_LOAD';
}

/** A module rejected the arguments of a `module` or `database` statement. */
export class ModuleArgumentError extends SmapdError {
  readonly code = 'E_MODULE_ARGS';
}

/**
 * A pattern that cannot be compiled: a glob, a POSIX regexp or bracket expression, an address in a rule. The
 * caller adds where it came from (a config location, or the s-expression that holds it).
 */
export class PatternError extends SmapdError {
  readonly code = 'E_PATTERN';
}

/** A line the text map format cannot accept; the message starts with `file:line: `. */
export class TextMapSyntaxError extends SmapdError {
  readonly code = 'E_TEXTMAP_SYNTAX';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** A backend failed (connection lost, query error); the client gets `TEMP reason`. */
export class BackendError extends SmapdError {
  readonly code = 'E_BACKEND';
}

/** A backend did not answer within the database's timeout; the client gets `TIMEOUT reason`. */
export class BackendTimeoutError extends SmapdError {
  readonly code = 'E_BACKEND_TIMEOUT';
}

/**
 * A module hook did not finish in time: `init`/`initDb` (a config error), `openDb` (the database stays closed
 * and is retried), `closeDb`/`done` (smapd goes on without waiting).
 */
export class HookTimeoutError extends SmapdError {
  readonly code = 'E_HOOK_TIMEOUT';
}

/**
 * A module broke the API contract at run time: `query` answered something that is not a `Reply` made by
 * `ctx.reply` (a plain string, undefined, an object), or `transform` something that is not a string or null.
 */
export class ModuleContractError extends SmapdError {
  readonly code = 'E_MODULE_CONTRACT';
}

/**
 * What a mail client is told when a database fails: short fixed phrases, the same for every module, because
 * any client may ask and the detail (file paths, host:port, driver messages) is for the operator, in the log.
 * A module's error replies (`TEMP ${error}` templates) use these too, through `clientReason`.
 */
export const CLIENT_REASONS = Object.freeze({
  /** The database cannot be opened, or is recovering from a module fault. */
  unavailable: 'database unavailable',
  /** A lookup failed (a thrown error, a bad answer from the module). */
  failed: 'database error',
  /** A lookup took longer than the database's timeout. */
  timeout: 'database timeout',
});

/**
 * True for a BackendTimeoutError. Tested by `code`, not `instanceof`, so that it holds for a module that
 * imports its own copy of the module API.
 */
export function isBackendTimeout(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'E_BACKEND_TIMEOUT';
}

/** The reason a client may see for `err`: never more than one of CLIENT_REASONS. */
export function clientReason(err: unknown): string {
  return isBackendTimeout(err) ? CLIENT_REASONS.timeout : CLIENT_REASONS.failed;
}

/**
 * One line that says what went wrong, for the log: the message, or for an error without one (Node's
 * AggregateError of a failed connect) the inner messages or the error code.
 */
export function errorDetail(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    const inner = err.errors.map((e) => errorDetail(e)).filter((m) => m !== 'unknown error');
    if (inner.length > 0) return [...new Set(inner)].join('; ');
  }
  if (err instanceof Error) {
    const msg = err.message.replace(/\s+/g, ' ').trim();
    if (msg !== '') return msg;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    return err.name || 'unknown error';
  }
  const s = String(err).replace(/\s+/g, ' ').trim();
  return s === '' ? 'unknown error' : s;
}

/** A listener could not be opened (address in use, permission, bad URL). */
export class ListenError extends SmapdError {
  readonly code = 'E_LISTEN';
}

/** Bad command-line usage; the CLI exits with EX_USAGE. */
export class UsageError extends SmapdError {
  readonly code = 'E_USAGE';
}

// Client side (src/client, smapc).

/** The server URL cannot be parsed, or names something a client cannot connect to (port 0). */
export class InvalidServerUrlError extends SmapdError {
  readonly code = 'E_CLIENT_URL';
}

/** A client option or request argument is unusable (bad timeout, map name with a space, ...). */
export class InvalidClientArgumentError extends SmapdError {
  readonly code = 'E_CLIENT_ARGUMENT';
}

/** The connection could not be made (refused, no such socket, connect timeout, bad source address). */
export class ConnectError extends SmapdError {
  readonly code = 'E_CONNECT';
}

/** The connection is gone (closed by either side, reset, or abandoned after an error). */
export class ConnectionClosedError extends SmapdError {
  readonly code = 'E_CONNECTION_CLOSED';
}

/** No reply within the request timeout; the client closes the connection because the stream is out of step. */
export class ReplyTimeoutError extends SmapdError {
  readonly code = 'E_REPLY_TIMEOUT';
}

/** The server announced a reply longer than the client's limit; the connection is closed. */
export class ReplyTooLargeError extends SmapdError {
  readonly code = 'E_REPLY_TOO_LARGE';
}

/** The server sent something that is not a netstring, or a reply nobody asked for; the connection is closed. */
export class MalformedReplyError extends SmapdError {
  readonly code = 'E_BAD_REPLY';
}

/** The control socket could not be used: absent, refused, not permitted, silent, or not speaking netstrings. */
export class ControlUnavailableError extends SmapdError {
  readonly code = 'E_CONTROL_UNAVAILABLE';
}
