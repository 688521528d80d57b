/**
 * The reply side shared by the SQL modules: the `*-reply=` options, their templates (row columns by name or by
 * position `${1}`, request variables, `${error}`), and turning a result row or an error into a reply.
 */
import type { ClientField, ConnInfo, DatabaseContext, OptionSpec, OptionValues, Reply, ReplyTemplate } from '../../src/modules/api.js';
import { bytesToText, ModuleArgumentError } from '../../src/modules/api.js';
import { SQL_VARIABLES, type RequestValues } from './query.js';

/** Default answers. GNU Smap's positive default was a bare `OK`, which Postfix reads as a config error. */
export const DEFAULT_POSITIVE_REPLY = 'OK ${1}';
export const DEFAULT_NEGATIVE_REPLY = 'NOTFOUND';
export const DEFAULT_ONERROR_REPLY = 'TEMP ${error}';
export const DEFAULT_TIMEOUT_REPLY = 'TIMEOUT ${error}';

/** The reply options both SQL modules take. `timeout-reply` has no fixed default: see compileReplies. */
export const REPLY_OPTIONS: OptionSpec = {
  'positive-reply': { type: 'string', default: DEFAULT_POSITIVE_REPLY },
  'negative-reply': { type: 'string', default: DEFAULT_NEGATIVE_REPLY },
  'onerror-reply': { type: 'string', default: DEFAULT_ONERROR_REPLY },
  'timeout-reply': { type: 'string' },
};

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

// Template variable names must start with a letter or '_', so `${1}` is rewritten to this spelling, which no
// unquoted SQL column name can take.
const COLUMN_PREFIX = '_.';

/** Compile one reply template, accepting `${N}` (1-based column of the first row). */
export function compileReplyTemplate(ctx: DatabaseContext, option: string, source: string): ReplyTemplate {
  const rewritten = source.replace(/\$\$|\$\{(\d+)\}/g, (all: string, num: string | undefined) => {
    if (num === undefined) return all;
    if (Number(num) < 1) throw new ModuleArgumentError(`${option}: column numbers start at 1, not \${${num}}`);
    return '${' + COLUMN_PREFIX + Number(num) + '}';
  });
  // The status word is fixed here, at config time, so no column value can choose it.
  return ctx.compileReply(rewritten, undefined, option);
}

/** Compile the reply options; a template that cannot see a row may only use what it can see. */
export function compileReplies(ctx: DatabaseContext, values: OptionValues, given: ReadonlySet<string>): SqlReplies {
  const positive = compileReplyTemplate(ctx, 'positive-reply', String(values['positive-reply']));
  const negative = compileReplyTemplate(ctx, 'negative-reply', String(values['negative-reply']));
  const onerror = compileReplyTemplate(ctx, 'onerror-reply', String(values['onerror-reply']));
  // One knob for "fail open": an explicit onerror-reply also covers timeouts unless timeout-reply says otherwise.
  const timeoutSource =
    values['timeout-reply'] !== undefined
      ? String(values['timeout-reply'])
      : given.has('onerror-reply')
        ? String(values['onerror-reply'])
        : DEFAULT_TIMEOUT_REPLY;
  const timeout = compileReplyTemplate(ctx, 'timeout-reply', timeoutSource);
  checkRowless('negative-reply', negative, []);
  checkRowless('onerror-reply', onerror, ['error']);
  checkRowless('timeout-reply', timeout, ['error']);
  return { positive, negative, onerror, timeout };
}

function checkRowless(option: string, t: ReplyTemplate, extra: readonly string[]): void {
  const allowed = new Set<string>([...SQL_VARIABLES, ...extra]);
  for (const v of t.variables) {
    if (allowed.has(v)) continue;
    const shown = v.startsWith(COLUMN_PREFIX) ? v.slice(COLUMN_PREFIX.length) : v;
    throw new ModuleArgumentError(
      `${option}: \${${shown}} is not available here (there is no result row); use ${[...allowed].map((a) => '${' + a + '}').join(', ')}`,
    );
  }
}

/** The variables of a request as the query and the templates see them. */
/**
 * The connection facts a SQL database's cacheable answers depend on: the request variables its query and its
 * positive and negative replies use (`SmapModule.answerDependsOn`).
 */
export function clientFieldsOf(params: readonly string[], replies: SqlReplies): ClientField[] {
  const used = new Set<string>([...params, ...replies.positive.variables, ...replies.negative.variables]);
  const fields: ClientField[] = [];
  if (used.has('src')) fields.push('src');
  if (used.has('dst')) fields.push('dst');
  if (used.has('server')) fields.push('serverId');
  return fields;
}

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
    if (v.startsWith(COLUMN_PREFIX)) return Number(v.slice(COLUMN_PREFIX.length)) > names.length;
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
export function renderRow(ctx: DatabaseContext, t: ReplyTemplate, row: ResultRow, req: RequestValues): Reply {
  const text = t.render((name) => {
    if (name.startsWith(COLUMN_PREFIX)) return columnText(row.values[Number(name.slice(COLUMN_PREFIX.length)) - 1]);
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
export function renderNotFound(ctx: DatabaseContext, t: ReplyTemplate, req: RequestValues): Reply {
  return t.render((name) => requestVar(req, name));
}

/** Render an error or timeout reply; `${error}` is never empty, so a client always learns something. */
export function renderError(ctx: DatabaseContext, t: ReplyTemplate, req: RequestValues, err: unknown): Reply {
  const why = errorText(err);
  return t.render((name) => (name === 'error' ? why : requestVar(req, name)));
}

/**
 * One line that says what went wrong. Node's connect errors for a name with several addresses are an
 * AggregateError with an empty message, so fall back to the inner errors and the code.
 */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    const inner = err.errors.map((e) => errorText(e)).filter((m) => m !== '');
    if (inner.length > 0) return [...new Set(inner)].join('; ');
  }
  if (err instanceof Error) {
    const msg = err.message.replace(/\s+/g, ' ').trim();
    if (msg !== '') return msg;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    return err.name || 'unknown error';
  }
  const s = String(err).trim();
  return s === '' ? 'unknown error' : s;
}
