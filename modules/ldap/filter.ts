/**
 * The search filter of an ldap database: a template such as `(&(objectClass=inetOrgPerson)(mail=$key))`.
 * GNU Smap pasted the key into the filter as it came, so a key `*` matched every entry and `x)(uid=*` rewrote
 * the filter. Here every variable is escaped as RFC 4515 requires (`*`, `(`, `)`, `\` and NUL as `\XX`), so
 * the key is always an assertion value and never filter syntax.
 */
import { FilterParser } from 'ldapts';
import { ModuleArgumentError, type DatabaseContext, type Template } from '../../src/modules/api.js';

/** The request values a filter or a reply can use; every other reply variable is an attribute. */
export const REQUEST_VARIABLES = ['key', 'map', 'src', 'dst', 'server'] as const;
export type RequestVariable = (typeof REQUEST_VARIABLES)[number];
export type RequestValues = Readonly<Record<RequestVariable, string>>;

const SPECIAL = /[*()\\\0]/g;

/** RFC 4515 escaping of an assertion value. Other characters go as they are (UTF-8 on the wire). */
export function escapeFilterValue(value: string): string {
  return value.replace(SPECIAL, (c) => '\\' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

export function isRequestVariable(name: string): name is RequestVariable {
  return (REQUEST_VARIABLES as readonly string[]).includes(name);
}

export interface CompiledFilter {
  readonly source: string;
  readonly variables: readonly string[];
  render(req: RequestValues): string;
}

export function compileFilter(ctx: DatabaseContext, source: string, where: string): CompiledFilter {
  const text = source.trim();
  if (text === '') throw new ModuleArgumentError(`${where}: filter= is required (e.g. filter="(mail=$key)")`);
  const t: Template = ctx.compileTemplate(text);
  for (const v of t.variables) {
    if (!isRequestVariable(v)) {
      throw new ModuleArgumentError(`${where}: filter: unknown variable \${${v}} (available: ${REQUEST_VARIABLES.map((r) => '$' + r).join(', ')})`);
    }
  }
  const render = (req: RequestValues): string => t.render((name) => escapeFilterValue(req[name as RequestVariable]));
  // Parse it once with sample values, so a filter that the directory would refuse is a config error.
  try {
    FilterParser.parseString(render({ key: 'k', map: 'm', src: '192.0.2.1', dst: '192.0.2.2', server: 's' }));
  } catch (err) {
    throw new ModuleArgumentError(`${where}: filter '${text}' is not a valid LDAP filter: ${(err as Error).message}`);
  }
  return { source: text, variables: t.variables, render };
}
