/**
 * The reply options every answering module offers, in one spelling: `positive-reply=`, `negative-reply=`,
 * `nomore`, `onerror-reply=` and `timeout-reply=`. A module says which of them it offers, their defaults and
 * the variables each may use; this file turns that into option definitions for `parseOptions` and compiles
 * the parsed values once, at `initDb`, so a lookup only renders (or not even that, for a constant reply).
 *
 *   const REPLIES = defineReplyOptions({
 *     positive: { default: 'OK ${value}', variables: ['map', 'key', 'value'] },
 *     negative: { variables: ['map', 'key'] },
 *     nomore: true,
 *   });
 *   const OPTIONS = { file: { type: 'string' }, ...REPLIES.options };
 *   // initDb:
 *   const replies = REPLIES.compile(ctx.parseOptions([...ctx.moduleArgs, ...args], OPTIONS), ctx);
 */
import { ModuleArgumentError } from '../errors.js';
import type { OptionDef, OptionSpec, ParsedOptions } from './options.js';
import { compileReplyTemplate, type ReplyTemplate, type ReplyTemplateTools } from './reply-template.js';

/** One reply option a module offers. */
export interface ReplyOptionRule {
  /** The text used when the option is not given. */
  readonly default?: string;
  /** The variables the template may use; undefined: any name (resolved per request, such as SQL columns). */
  readonly variables?: readonly string[];
  /** Accept `${1}`, `${2}`, … for positions (the columns of a result row); see `replyPosition`. */
  readonly positional?: boolean;
}

/** Which reply options a module offers. `positive-reply=` and `negative-reply=` always; the others on request. */
export interface ReplyOptionsSpec {
  /** `positive-reply=`: the answer when the key is found. Its default is required. */
  readonly positive: ReplyOptionRule & { readonly default: string };
  /** `negative-reply=`: the answer when it is not. Default `NOTFOUND`. */
  readonly negative: ReplyOptionRule;
  /** Offer `nomore`: a miss answers `NOMORE` (MeTA1's "stop searching"); not together with negative-reply=. */
  readonly nomore?: boolean;
  /** Offer `onerror-reply=`: the answer when the backend fails. Without a default, absent unless given. */
  readonly onerror?: ReplyOptionRule;
  /**
   * Offer `timeout-reply=`: the answer when the backend is too slow. When it is not given, an explicitly given
   * `onerror-reply=` is used (one knob to "fail open"), else its default.
   */
  readonly timeout?: ReplyOptionRule;
}

/** The compiled reply options of one database. */
export interface ReplyOptionTemplates {
  readonly positive: ReplyTemplate;
  /** `negative-reply=`, or `NOMORE` with `nomore`, or `NOTFOUND`. */
  readonly negative: ReplyTemplate;
  /** Undefined when the module offers no `onerror-reply=` or it was neither given nor defaulted. */
  readonly onerror: ReplyTemplate | undefined;
  /** Undefined when the module offers no `timeout-reply=` and there is nothing to fall back on. */
  readonly timeout: ReplyTemplate | undefined;
}

/** A module's reply options: the definitions to add to its `OptionSpec`, and their compiler. */
export interface ReplyOptions {
  /** Option definitions to spread into the module's own `OptionSpec`. */
  readonly options: OptionSpec;
  /**
   * Compile what `ctx.parseOptions` returned for a spec that includes `options`. Throws `ModuleArgumentError`
   * (a config error naming the option) for an unknown variable, an empty reply, or `nomore` together with
   * `negative-reply=`.
   */
  compile(parsed: Pick<ParsedOptions, 'values' | 'given'>, ctx: ReplyTemplateTools): ReplyOptionTemplates;
}

const NOTFOUND = 'NOTFOUND';

function stringOption(rule: ReplyOptionRule | undefined): OptionDef {
  return rule?.default === undefined ? { type: 'string' } : { type: 'string', default: rule.default };
}

/** Describe the reply options a module offers; call once, at module load. */
export function defineReplyOptions(spec: ReplyOptionsSpec): ReplyOptions {
  const options: Record<string, OptionDef> = {
    'positive-reply': stringOption(spec.positive),
    'negative-reply': stringOption(spec.negative),
  };
  if (spec.nomore === true) options['nomore'] = { type: 'boolean', default: false };
  if (spec.onerror !== undefined) options['onerror-reply'] = stringOption(spec.onerror);
  if (spec.timeout !== undefined) options['timeout-reply'] = stringOption(spec.timeout);
  Object.freeze(options);

  const compileOne = (ctx: ReplyTemplateTools, rule: ReplyOptionRule, text: string, what: string): ReplyTemplate =>
    compileReplyTemplate(ctx, text, rule.variables, what, { positional: rule.positional === true });

  return {
    options,
    compile({ values, given }, ctx) {
      const text = (name: string): string | undefined => {
        const v = values[name];
        return v === undefined ? undefined : String(v);
      };
      const positive = compileOne(ctx, spec.positive, text('positive-reply') ?? spec.positive.default, 'positive-reply');

      const nomore = spec.nomore === true && values['nomore'] === true;
      if (nomore && given.has('negative-reply')) {
        throw new ModuleArgumentError('nomore and negative-reply= cannot be used together: nomore means negative-reply=NOMORE');
      }
      const negative = nomore
        ? compileOne(ctx, spec.negative, 'NOMORE', 'nomore')
        : compileOne(ctx, spec.negative, text('negative-reply') ?? NOTFOUND, 'negative-reply');

      const onerrorText = spec.onerror === undefined ? undefined : text('onerror-reply');
      const onerror = onerrorText === undefined ? undefined : compileOne(ctx, spec.onerror!, onerrorText, 'onerror-reply');

      let timeout: ReplyTemplate | undefined;
      if (spec.timeout !== undefined) {
        const explicit = text('timeout-reply');
        if (explicit !== undefined && (given.has('timeout-reply') || !given.has('onerror-reply'))) {
          timeout = compileOne(ctx, spec.timeout, explicit, 'timeout-reply');
        } else if (given.has('onerror-reply') && onerrorText !== undefined) {
          timeout = compileOne(ctx, spec.timeout, onerrorText, 'timeout-reply');
        }
      }
      return Object.freeze({ positive, negative, onerror, timeout });
    },
  };
}
