/**
 * The ldap module's replies: `positive-reply=` may use `${dn}` and any attribute of the first entry found
 * (`OK ${mail}`); a multi-valued attribute gives its first value, or all of them joined with `join-delim=`.
 * Every reply may use the request variables (`${key}`, `${map}`, `${src}`, `${dst}`, `${server}`); the error
 * replies also `${error}`, a short reason (the details go to the log, not to the client).
 */
import type { Entry } from 'ldapts';
import { ModuleArgumentError, type DatabaseContext, type OptionValues, type Reply, type ReplyTemplate } from '../../src/modules/api.js';
import { isRequestVariable, REQUEST_VARIABLES, type RequestValues } from './filter.js';
import { DEFAULT_TIMEOUT_REPLY } from './settings.js';

export interface LdapReplies {
  readonly positive: ReplyTemplate;
  readonly negative: ReplyTemplate;
  readonly onerror: ReplyTemplate;
  readonly timeout: ReplyTemplate;
  /** The attributes the positive reply uses: the only ones asked of the directory. */
  readonly attributes: readonly string[];
  readonly joinDelim: string | undefined;
}

export function compileReplies(ctx: DatabaseContext, values: OptionValues, given: ReadonlySet<string>): LdapReplies {
  const positive = ctx.compileReply(String(values['positive-reply']), undefined, 'positive-reply');
  const rowless = [...REQUEST_VARIABLES];
  const negative = ctx.compileReply(String(values['negative-reply']), rowless, 'negative-reply');
  const onerror = ctx.compileReply(String(values['onerror-reply']), [...rowless, 'error'], 'onerror-reply');
  // As in the SQL modules: an explicit onerror-reply also covers timeouts unless timeout-reply says otherwise.
  const timeoutSource =
    values['timeout-reply'] !== undefined ? String(values['timeout-reply']) : given.has('onerror-reply') ? String(values['onerror-reply']) : DEFAULT_TIMEOUT_REPLY;
  const timeout = ctx.compileReply(timeoutSource, [...rowless, 'error'], 'timeout-reply');
  const attributes = positive.variables.filter((v) => v !== 'dn' && !isRequestVariable(v));
  for (const a of attributes) {
    if (!/^[A-Za-z][A-Za-z0-9-]*$|^\d+(\.\d+)+$/.test(a)) throw new ModuleArgumentError(`positive-reply: \${${a}} is not an LDAP attribute name`);
  }
  const joinDelim = values['join-delim'] === undefined ? undefined : String(values['join-delim']);
  return { positive, negative, onerror, timeout, attributes, joinDelim };
}

/** An attribute's value as reply text. */
function attributeText(value: Entry[string] | undefined, joinDelim: string | undefined): string {
  if (value === undefined) return '';
  const list = Array.isArray(value) ? value : [value];
  const texts = list.map((v) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
  if (texts.length === 0) return '';
  return joinDelim === undefined ? texts[0]! : texts.join(joinDelim);
}

/** Attribute names are case-insensitive in LDAP: index the entry by lower-case name. */
function byLowerName(entry: Entry): Map<string, Entry[string]> {
  const out = new Map<string, Entry[string]>();
  for (const [name, value] of Object.entries(entry)) out.set(name.toLowerCase(), value);
  return out;
}

export function renderEntry(r: LdapReplies, entry: Entry, req: RequestValues): Reply {
  const attrs = byLowerName(entry);
  return r.positive.render((name) => {
    if (name === 'dn') return entry.dn;
    if (isRequestVariable(name)) return req[name];
    return attributeText(attrs.get(name.toLowerCase()), r.joinDelim);
  });
}

export function renderRequest(t: ReplyTemplate, req: RequestValues, error = ''): Reply {
  return t.render((name) => (name === 'error' ? error : isRequestVariable(name) ? req[name] : undefined));
}
