/**
 * Turns the `query=` text of a SQL database into a parameterised statement. GNU Smap pasted escaped values
 * into the SQL (`WHERE k = '$key'`); here every variable becomes a bound parameter, so a key never reaches
 * the server as SQL text, whatever quotes, backslashes or comment markers it holds.
 *
 * Accepted forms: `$key`, `${key}`, `:key` outside literals; `'$key'` (the quoted GNU form) becomes a bare
 * parameter; a literal that mixes text and variables (`'%$key'`) becomes a concatenation of literal parts and
 * parameters, so GNU queries keep their meaning.
 */
import { hasRawBytes, keyBytes, ModuleArgumentError } from '../../src/modules/api.js';

/** The request values a query or a reply template can use. */
export const SQL_VARIABLES = ['key', 'map', 'src', 'dst', 'server'] as const;
export type SqlVariable = (typeof SQL_VARIABLES)[number];

/** How a SQL dialect quotes things and spells parameters. */
export interface SqlDialect {
  readonly name: 'sqlite' | 'mysql' | 'postgres';
  /** Quote characters that open string literals (the rest open identifiers). */
  readonly stringQuotes: string;
  readonly identifierQuotes: Readonly<Record<string, string>>;
  /** Whether a backslash escapes the next character inside a literal (MySQL's default sql_mode). */
  readonly backslashEscapes: boolean;
  /** Whether `#` starts a comment. */
  readonly hashComments: boolean;
  placeholder(name: SqlVariable): string;
  concat(parts: readonly string[]): string;
}

export const SQLITE_DIALECT: SqlDialect = {
  name: 'sqlite',
  stringQuotes: "'",
  identifierQuotes: { '"': '"', '`': '`', '[': ']' },
  backslashEscapes: false,
  hashComments: false,
  placeholder: (name) => ':' + name,
  concat: (parts) => '(' + parts.join(' || ') + ')',
};

export const MYSQL_DIALECT: SqlDialect = {
  name: 'mysql',
  // Without ANSI_QUOTES, MySQL reads "..." as a string, and GNU Smap configs rely on that.
  stringQuotes: `'"`,
  identifierQuotes: { '`': '`' },
  backslashEscapes: true,
  hashComments: true,
  placeholder: () => '?',
  concat: (parts) => 'CONCAT(' + parts.join(', ') + ')',
};

export interface CompiledQuery {
  /** The query as written in the config. */
  readonly source: string;
  /** The statement to prepare, with the dialect's placeholders. */
  readonly sql: string;
  /** One entry per placeholder, in order (mysql binds positionally; sqlite uses the distinct names). */
  readonly params: readonly SqlVariable[];
  /** Things worth a log line that are not errors (no placeholder at all, an unknown `$name` in a literal). */
  readonly warnings: readonly string[];
}

const IDENT_CHAR = /[A-Za-z0-9_$]/;
const NAME_AT = /^[A-Za-z_][A-Za-z0-9_]*/;

function isVariable(name: string): name is SqlVariable {
  return (SQL_VARIABLES as readonly string[]).includes(name);
}

const KNOWN = SQL_VARIABLES.map((v) => '$' + v).join(', ');

/** A `$name` or `${name}` at `text[i]`, or null when there is none. */
function dollarAt(text: string, i: number): { name: string; length: number; braced: boolean } | null {
  if (text[i] !== '$') return null;
  if (text[i + 1] === '{') {
    const end = text.indexOf('}', i + 2);
    if (end < 0) return null;
    return { name: text.slice(i + 2, end), length: end - i + 1, braced: true };
  }
  const m = NAME_AT.exec(text.slice(i + 1));
  return m ? { name: m[0], length: m[0].length + 1, braced: false } : null;
}

export function compileQuery(source: string, dialect: SqlDialect): CompiledQuery {
  const params: SqlVariable[] = [];
  const warnings: string[] = [];
  const fail = (why: string): never => {
    throw new ModuleArgumentError(`query: ${why} in: ${source}`);
  };
  let out = '';
  let i = 0;
  const n = source.length;

  while (i < n) {
    const c = source[i]!;
    const prev = i > 0 ? source[i - 1]! : '';

    // MySQL needs whitespace after `--` (so `5--1` is arithmetic); SQLite and PostgreSQL do not.
    if (c === '-' && source[i + 1] === '-' && (dialect.name !== 'mysql' || /^(?:\s|$)/.test(source.slice(i + 2, i + 3)))) {
      const end = source.indexOf('\n', i);
      out += source.slice(i, end < 0 ? n : end);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '#' && dialect.hashComments) {
      const end = source.indexOf('\n', i);
      out += source.slice(i, end < 0 ? n : end);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) fail('unterminated /* comment');
      out += source.slice(i, end + 2);
      i = end + 2;
      continue;
    }
    if (dialect.name === 'postgres' && c === '$' && source[i + 1] === '$') {
      // A dollar-quoted string: its text is taken as written, with no variables and no escapes.
      const end = source.indexOf('$$', i + 2);
      if (end < 0) fail('unterminated $$ string');
      out += source.slice(i, end + 2);
      i = end + 2;
      continue;
    }
    if (dialect.stringQuotes.includes(c)) {
      // PostgreSQL's E'...' strings take backslash escapes; its standard strings do not.
      const ePrefix = dialect.name === 'postgres' && /[Ee]/.test(prev) && !IDENT_CHAR.test(source[i - 2] ?? '');
      const lit = readLiteral(source, i, c, dialect.backslashEscapes || ePrefix, fail);
      // The E goes with each text part, should the literal become a concatenation.
      if (ePrefix) out = out.slice(0, -1);
      out += literalToSql(lit.segments, c, dialect, params, warnings, ePrefix ? prev : '');
      i = lit.end;
      continue;
    }
    const close = dialect.identifierQuotes[c];
    if (close !== undefined) {
      const end = source.indexOf(close, i + 1);
      if (end < 0) fail(`unterminated ${c} identifier`);
      const ident = source.slice(i, end + 1);
      if (/(?:^|[^A-Za-z0-9_$])(?:\$\{?|:)(?:key|map|src|dst|server)\b/.test(ident.slice(1, -1))) {
        fail(`a variable inside the quoted identifier ${ident}; write '$key' (single quotes) or a bare :key`);
      }
      out += ident;
      i = end + 1;
      continue;
    }
    if (c === '$' && dialect.name === 'postgres' && /[0-9]/.test(source[i + 1] ?? '') && !IDENT_CHAR.test(prev)) {
      fail('positional $N parameters are not supported; name the value: $key, :key, $map');
    }
    if (c === '$' && !IDENT_CHAR.test(prev)) {
      const v = dollarAt(source, i);
      if (v !== null) {
        if (!isVariable(v.name)) fail(`unknown variable $${v.braced ? `{${v.name}}` : v.name} (known: ${KNOWN})`);
        params.push(v.name as SqlVariable);
        out += dialect.placeholder(v.name as SqlVariable);
        i += v.length;
        continue;
      }
    }
    if (c === ':' && !IDENT_CHAR.test(prev) && prev !== ':') {
      const m = NAME_AT.exec(source.slice(i + 1));
      if (m !== null) {
        if (!isVariable(m[0])) fail(`unknown placeholder :${m[0]} (known: ${SQL_VARIABLES.map((v) => ':' + v).join(', ')})`);
        params.push(m[0] as SqlVariable);
        out += dialect.placeholder(m[0] as SqlVariable);
        i += m[0].length + 1;
        continue;
      }
    }
    // PostgreSQL has no `?` parameters (`?` is a jsonb operator there).
    if (c === '?' && dialect.name !== 'postgres') fail('positional ? placeholders are not supported; name the value: :key, :map, $key');
    if (c === '@' && dialect.name === 'sqlite' && NAME_AT.test(source.slice(i + 1))) {
      fail('@name parameters are not supported; use :key, :map, :src, :dst, :server');
    }
    out += c;
    i++;
  }

  if (out.trim() === '') fail('the query is empty');
  if (params.length === 0) warnings.push(`query has no placeholder: every key gets the same answer: ${source}`);
  return { source, sql: out, params, warnings };
}

type Segment = { text: string } | { variable: SqlVariable };

/** Read a string literal opening at `start`; split its raw text at `$variables`. */
function readLiteral(
  source: string,
  start: number,
  quote: string,
  backslashEscapes: boolean,
  fail: (why: string) => never,
): { segments: Segment[]; end: number } {
  const segments: Segment[] = [];
  let text = '';
  let i = start + 1;
  for (;;) {
    if (i >= source.length) fail(`unterminated ${quote} string`);
    const c = source[i]!;
    if (c === '\\' && backslashEscapes) {
      // Raw text is kept as written; the server undoes the escapes, so `\$key` stays the text "$key".
      text += source.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (c === quote) {
      if (source[i + 1] === quote) {
        text += quote + quote;
        i += 2;
        continue;
      }
      break;
    }
    const v = c === '$' ? dollarAt(source, i) : null;
    if (v !== null && isVariable(v.name)) {
      if (text !== '') segments.push({ text });
      text = '';
      segments.push({ variable: v.name });
      i += v.length;
      continue;
    }
    text += c;
    i++;
  }
  if (text !== '' || segments.length === 0) segments.push({ text });
  return { segments, end: i + 1 };
}

function literalToSql(
  segments: readonly Segment[],
  quote: string,
  dialect: SqlDialect,
  params: SqlVariable[],
  warnings: string[],
  prefix = '',
): string {
  const parts = segments.map((s) => {
    if ('variable' in s) {
      params.push(s.variable);
      return dialect.placeholder(s.variable);
    }
    const unknown = /\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(s.text);
    if (unknown !== null) {
      warnings.push(`'$${unknown[1]}' inside a string literal is not a variable (known: ${KNOWN}); it is kept as text`);
    }
    return prefix + quote + s.text + quote;
  });
  return parts.length === 1 ? parts[0]! : dialect.concat(parts);
}

/**
 * A request value as a statement parameter. Text that is not UTF-8 (a Latin-1 key from Sendmail; see
 * src/protocol/bytes.ts) is bound as its bytes, a BLOB / binary string: as text it would become U+FFFD, and
 * `\xfe` and `\xff` would be one key. A binary parameter compares byte for byte: in SQLite it equals only a
 * BLOB holding those bytes (smapd-makemap stores such keys so); in MySQL it compares with the column's bytes.
 */
export function boundValue(text: string): string | Buffer {
  return hasRawBytes(text) ? keyBytes(text) : text;
}

/** The value of each query variable for one request. */
export interface RequestValues {
  readonly key: string;
  readonly map: string;
  readonly src: string;
  readonly dst: string;
  readonly server: string;
}
