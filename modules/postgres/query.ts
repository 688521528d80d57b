/**
 * `query=` for PostgreSQL: the shared SQL template compiler with PostgreSQL's quoting, and each variable a
 * numbered parameter. The same variable keeps its number wherever it appears (`$key` twice is `$1` twice),
 * so the server infers one type for it, and every number is used, as PostgreSQL requires.
 */
import { createHash } from 'node:crypto';
import { compileQuery, type CompiledQuery, type SqlDialect, type SqlVariable } from '../sql-common/query.js';

export interface PostgresQuery {
  readonly compiled: CompiledQuery;
  /** The request variable bound to `$1`, `$2`, … in order. */
  readonly order: readonly SqlVariable[];
  /** The prepared statement's name, the same for the same text. */
  readonly name: string;
}

export function compilePostgresQuery(source: string): PostgresQuery {
  const order: SqlVariable[] = [];
  const dialect: SqlDialect = {
    name: 'postgres',
    stringQuotes: "'",
    identifierQuotes: { '"': '"' },
    // standard_conforming_strings (on since 9.1): a backslash is text, except in E'...' strings.
    backslashEscapes: false,
    hashComments: false,
    placeholder: (v) => {
      let n = order.indexOf(v);
      if (n < 0) n = order.push(v) - 1;
      return '$' + (n + 1);
    },
    // A literal that mixes text and a variable ('%$key') concatenates as text whatever type the column has.
    concat: (parts) => '(' + parts.map((p) => (/^\$\d+$/.test(p) ? p + '::text' : p)).join(' || ') + ')',
  };
  const compiled = compileQuery(source, dialect);
  const name = 'smapd_' + createHash('sha256').update(compiled.sql).digest('hex').slice(0, 24);
  return { compiled, order, name };
}
