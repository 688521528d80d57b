/**
 * The one reply-template compiler. Status words are fixed at config time: `parseReply` on the rendered text
 * would take the status from whatever a variable expanded to, so a template like `${xform}` would let a
 * client's key (`PERM x`) choose the status. Here only a literal first word can be a status; everything a
 * variable produces stays inside the reply text.
 */
import { ModuleArgumentError } from '../errors.js';
import type { Reply, ReplyFormatter, ReplyStatus } from '../protocol/reply.js';
import type { compileTemplate as CompileTemplate } from './template.js';

/** What compiling a reply template needs: the formatter and the template compiler (a ModuleContext has both). */
export interface ReplyTemplateTools {
  readonly reply: ReplyFormatter;
  readonly compileTemplate: typeof CompileTemplate;
}

/** A compiled reply template: render it per request, or use `constant` when it has no variables. */
export interface ReplyTemplate {
  /**
   * The variables the template uses, in order of first use. A position `${N}` (only with `positional`) is
   * listed under a name of its own: `replyPosition(name)` gives its number back.
   */
  readonly variables: readonly string[];
  /** The reply, when the template has no variables: computed once, returned as-is on every request. */
  readonly constant: Reply | undefined;
  render(vars: (name: string) => string | undefined): Reply;
}

/** Extra choices for `compileReplyTemplate`. */
export interface ReplyTemplateOptions {
  /**
   * Accept `${1}`, `${2}`, … (1-based positions, e.g. the columns of a result row). Template variable names
   * start with a letter or `_`, so positions are renamed to `_.N`, a spelling no unquoted SQL column can take.
   */
  readonly positional?: boolean;
}

const POSITION_PREFIX = '_.';

/** The 1-based position a template variable stands for (`${2}` → 2), or undefined for a named variable. */
export function replyPosition(variable: string): number | undefined {
  if (!variable.startsWith(POSITION_PREFIX)) return undefined;
  const n = Number(variable.slice(POSITION_PREFIX.length));
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** A variable as the config spells it, for messages: `${2}` rather than the internal name. */
function shown(variable: string): string {
  const n = replyPosition(variable);
  return n === undefined ? `\${${variable}}` : `\${${n}}`;
}

function renamePositions(text: string, what: string): string {
  return text.replace(/\$\$|\$\{(\d+)\}/g, (all: string, num: string | undefined) => {
    if (num === undefined) return all;
    if (Number(num) < 1) throw new ModuleArgumentError(`${what}: column numbers start at 1, not \${${num}}`);
    return '${' + POSITION_PREFIX + Number(num) + '}';
  });
}

/**
 * Compile `text`. `allowed` lists the variables the caller provides; any other one is a config error rather
 * than a silent empty string (undefined: any name, for callers whose names come later, such as SQL columns).
 * `what` names the template in messages (`positive-reply`).
 */
export function compileReplyTemplate(
  ctx: ReplyTemplateTools,
  text: string,
  allowed: readonly string[] | undefined,
  what: string,
  options: ReplyTemplateOptions = {},
): ReplyTemplate {
  const source = options.positional === true ? renamePositions(text, what) : text;
  const trimmed = source.replace(/^\s+/, '');
  if (trimmed === '') throw new ModuleArgumentError(`${what} is empty: a reply needs at least a status word`);
  const sp = trimmed.search(/\s/);
  const first = sp < 0 ? trimmed : trimmed.slice(0, sp);
  const probe = ctx.reply.statusOf(ctx.reply.parse(first));
  const status: ReplyStatus | undefined = !first.includes('$') && first.toUpperCase() === probe ? probe : undefined;

  const body = ctx.compileTemplate(status === undefined ? trimmed : sp < 0 ? '' : trimmed.slice(sp + 1));
  for (const v of body.variables) {
    if (allowed !== undefined && !allowed.includes(v)) {
      const available = allowed.length === 0 ? 'none' : allowed.map(shown).join(', ');
      throw new ModuleArgumentError(`${what}: unknown variable ${shown(v)} (available: ${available}; write $$ for a literal $)`);
    }
  }

  const make = status === undefined ? (t: string) => ctx.reply.ok(t) : (t: string) => ctx.reply.reply(status, t);
  if (body.variables.length === 0) {
    const constant = make(body.render(() => undefined));
    return { variables: body.variables, constant, render: () => constant };
  }
  return { variables: body.variables, constant: undefined, render: (vars) => make(body.render(vars)) };
}
