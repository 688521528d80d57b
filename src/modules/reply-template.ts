/**
 * Reply templates whose status word is fixed at config time. `parseReply` on the rendered text would take
 * the status from whatever a variable expanded to, so a template like `${xform}` would let a client's key
 * (`PERM x`) choose the status. Here only a literal first word can be a status; everything a variable
 * produces stays inside the reply text.
 */
import { ModuleArgumentError } from '../errors.js';
import type { Reply, ReplyFormatter, ReplyStatus } from '../protocol/reply.js';
import type { compileTemplate as CompileTemplate } from './template.js';

/** What compiling a reply template needs: the formatter and the template compiler (a ModuleContext has both). */
export interface ReplyTemplateTools {
  readonly reply: ReplyFormatter;
  readonly compileTemplate: typeof CompileTemplate;
}

export interface ReplyTemplate {
  /** The variables the template uses, in order of first use. */
  readonly variables: readonly string[];
  /** The reply, when the template has no variables: computed once, returned as-is on every request. */
  readonly constant: Reply | undefined;
  render(vars: (name: string) => string | undefined): Reply;
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
): ReplyTemplate {
  const trimmed = text.replace(/^\s+/, '');
  if (trimmed === '') throw new ModuleArgumentError(`${what} is empty: a reply needs at least a status word`);
  const sp = trimmed.search(/\s/);
  const first = sp < 0 ? trimmed : trimmed.slice(0, sp);
  const probe = ctx.reply.statusOf(ctx.reply.parse(first));
  const status: ReplyStatus | undefined = !first.includes('$') && first.toUpperCase() === probe ? probe : undefined;

  const body = ctx.compileTemplate(status === undefined ? trimmed : sp < 0 ? '' : trimmed.slice(sp + 1));
  for (const v of body.variables) {
    if (allowed !== undefined && !allowed.includes(v)) {
      throw new ModuleArgumentError(
        `${what}: unknown variable \${${v}} (available: ${allowed.map((a) => `\${${a}}`).join(', ')}; write $$ for a literal $)`,
      );
    }
  }

  const make = status === undefined ? (t: string) => ctx.reply.ok(t) : (t: string) => ctx.reply.reply(status, t);
  if (body.variables.length === 0) {
    const constant = make(body.render(() => undefined));
    return { variables: body.variables, constant, render: () => constant };
  }
  return { variables: body.variables, constant: undefined, render: (vars) => make(body.render(vars)) };
}
