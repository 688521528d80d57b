/**
 * The reply side shared by the SQL modules: the `*-reply=` options, their templates (row columns by name or by
 * position `${1}`, request variables, `${error}`), and turning a result row or an error into a reply.
 */
import {
  clientFieldsUsed,
  bytesToText,
  clientReason,
  defineReplyOptions,
  errorDetail,
  replyPosition,
  type ClientField,
  type ConnInfo,
  type DatabaseContext,
  type OptionValues,
  type Reply,
  type ReplyTemplate,
} from '../../src/modules/api.js';
import { SQL_VARIABLES, type RequestValues } from './query.js';

/** Default answers. GNU Smap's positive default was a bare `OK`, which Postfix reads as a config error. */
export const DEFAULT_POSITIVE_REPLY = 'OK ${1}';
export const DEFAULT_NEGATIVE_REPLY = 'NOTFOUND';
export const DEFAULT_ONERROR_REPLY = 'TEMP ${error}';
export const DEFAULT_TIMEOUT_REPLY = 'TIMEOUT ${error}';

// Only the positive reply sees a result row (columns by name or by position `${1}`); the others may use the
// request variables, and the error replies `${error}` too.
const ERROR_VARIABLES = [...SQL_VARIABLES, 'error'];
const REPLIES = defineReplyOptions({
  positive: { default: DEFAULT_POSITIVE_REPLY, positional: true },
  // Positions are recognised everywhere so that `${1}` where there is no row is an error, not literal text.
  negative: { default: DEFAULT_NEGATIVE_REPLY, variables: SQL_VARIABLES, positional: true },
  onerror: { default: DEFAULT_ONERROR_REPLY, variables: ERROR_VARIABLES, positional: true },
  timeout: { default: DEFAULT_TIMEOUT_REPLY, variables: ERROR_VARIABLES, positional: true },
});

/** The reply options the SQL modules take. */
export const REPLY_OPTIONS = REPLIES.options;

export interface SqlReplies {
  readonly positive: ReplyTemplate;
  readonly negative: ReplyTemplate;
  readonly onerror: ReplyTemplate;
  readonly timeout: ReplyTemplate;
}

/** A result row: values by position, with the column names of the result. */
export interface ResultRow {
  readonly names: readonly string[];
  readonly values: readonly unknown[];
}

/**
 * Compile the reply options. An explicit onerror-reply= also covers timeouts unless timeout-reply= says
 * otherwise: one knob for "fail open".
 */
export function compileReplies(ctx: DatabaseContext, values: OptionValues, given: ReadonlySet<string>): SqlReplies {
  const { positive, negative, onerror, timeout } = REPLIES.compile({ values, given }, ctx);
  // Both have defaults, so the kit always compiles them.
  return { positive, negative, onerror: onerror!, timeout: timeout! };
}

/**
 * The connection facts a SQL database's cacheable answers depend on: the request variables its query and its
 * positive and negative replies use (`SmapModule.answerDependsOn`).
 */
export function clientFieldsOf(params: readonly string[], replies: SqlReplies): ClientField[] {
  return clientFieldsUsed([...params, ...replies.positive.variables, ...replies.negative.variables]);
}

/** The variables of a request as the query and the templates see them. */
export function requestValues(map: string, key: string, conn: ConnInfo): RequestValues {
  return { key, map, src: conn.src, dst: conn.dst, server: conn.serverId };
}

/** A column value as reply text. NULL is '' (GNU Smap crashed on it). */
export function columnText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  // A BLOB or binary column: its bytes decoded losslessly, so 8-bit values come back in the reply byte for byte.
  if (v instanceof Uint8Array) return bytesToText(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString();
  return JSON.stringify(v);
}

/** Column names that a positive template uses but the statement does not return (for a warning at open). */
export function unknownColumns(t: ReplyTemplate, names: readonly string[]): string[] {
  const lower = new Set(names.map((n) => n.toLowerCase()));
  return t.variables.filter((v) => {
    if ((SQL_VARIABLES as readonly string[]).includes(v)) return false;
    const position = replyPosition(v);
    if (position !== undefined) return position > names.length;
    return !lower.has(v.toLowerCase());
  });
}

function requestVar(req: RequestValues, name: string): string | undefined {
  return (SQL_VARIABLES as readonly string[]).includes(name) ? req[name as keyof RequestValues] : undefined;
}

/**
 * Render the positive reply from the first row. A column named like a request variable (`key`) hides the
 * variable: whoever wrote the SELECT asked for that column. Names match exactly first, then ignoring case,
 * as SQL column names do.
 */
export function renderRow(t: ReplyTemplate, row: ResultRow, req: RequestValues): Reply {
  const text = t.render((name) => {
    const position = replyPosition(name);
    if (position !== undefined) return columnText(row.values[position - 1]);
    let idx = row.names.indexOf(name);
    if (idx < 0) {
      const lower = name.toLowerCase();
      idx = row.names.findIndex((n) => n.toLowerCase() === lower);
    }
    if (idx >= 0) return columnText(row.values[idx]);
    return requestVar(req, name);
  });
  return text;
}

/** Render the negative reply. */
export function renderNotFound(t: ReplyTemplate, req: RequestValues): Reply {
  return t.render((name) => requestVar(req, name));
}

/**
 * Render an error or timeout reply. `${error}` is the short reason (`database error`, `database timeout`):
 * any client may read it, so the detail (file, host:port, driver text) stays in the log the caller writes.
 */
export function renderError(t: ReplyTemplate, req: RequestValues, err: unknown): Reply {
  const why = clientReason(err);
  return t.render((name) => (name === 'error' ? why : requestVar(req, name)));
}

/** One line that says what went wrong, for the log (the kit's `errorDetail`). */
export const errorText = errorDetail;
