/**
 * The reply options shared by the key-value map modules (`file`, `level`): `positive-reply=`,
 * `negative-reply=` and `nomore`, compiled once at `initDb` so a lookup only renders (or not even that).
 */
import type { ModuleContext, OptionSpec, OptionValues, Reply, ReplyTemplate } from '../modules/api.js';
import { ModuleArgumentError } from '../errors.js';

export const DEFAULT_POSITIVE_REPLY = 'OK ${value}';

export const MAP_REPLY_OPTIONS: OptionSpec = {
  'positive-reply': { type: 'string', default: DEFAULT_POSITIVE_REPLY },
  'negative-reply': { type: 'string' },
  nomore: { type: 'boolean', default: false },
};

/** The variables a positive reply may use; a negative reply may use all but `value` and `matched`. */
export interface HitVars {
  readonly map: string;
  readonly key: string;
  readonly value: string;
  /** The stored key that matched (differs from `key` after case folding or a fallback lookup). */
  readonly matched: string;
}

export interface MapReplies {
  /**
   * True when the positive reply depends only on the stored entry (`value`, `matched`), so it can be
   * rendered once per entry when the map is loaded instead of once per lookup.
   */
  readonly perEntry: boolean;
  positive(vars: HitVars): Reply;
  negative(map: string, key: string): Reply;
}

const POSITIVE_VARS = ['map', 'key', 'value', 'matched'];
const NEGATIVE_VARS = ['map', 'key'];
const ENTRY_VARS = new Set(['value', 'matched']);

function checkVariables(option: string, tpl: ReplyTemplate, allowed: readonly string[]): void {
  for (const v of tpl.variables) {
    if (!allowed.includes(v)) {
      throw new ModuleArgumentError(`${option} uses unknown variable '\${${v}}' (known: ${allowed.join(', ')})`);
    }
  }
}

/** Compile the reply options of one database. */
export function compileMapReplies(values: OptionValues, ctx: ModuleContext): MapReplies {
  // Reply templates fix their status word at compile time: a stored value cannot choose the status.
  const positiveSource = String(values['positive-reply']);
  const positiveTpl = ctx.compileReply(positiveSource, undefined, 'positive-reply');
  checkVariables('positive-reply', positiveTpl, POSITIVE_VARS);

  const negativeText = values['negative-reply'];
  if (negativeText !== undefined && values['nomore'] === true) {
    throw new ModuleArgumentError('nomore and negative-reply= cannot be used together: nomore means negative-reply=NOMORE');
  }
  let negative: (map: string, key: string) => Reply;
  if (negativeText === undefined) {
    const fixed = values['nomore'] === true ? ctx.reply.noMore() : ctx.reply.notFound();
    negative = () => fixed;
  } else {
    const negativeTpl = ctx.compileReply(String(negativeText), undefined, 'negative-reply');
    checkVariables('negative-reply', negativeTpl, NEGATIVE_VARS);
    if (negativeTpl.constant !== undefined) {
      const fixed = negativeTpl.constant;
      negative = () => fixed;
    } else {
      negative = (map, key) => negativeTpl.render((n) => (n === 'map' ? map : n === 'key' ? key : ''));
    }
  }

  const perEntry = positiveTpl.variables.every((v) => ENTRY_VARS.has(v));
  const isDefault = positiveSource === DEFAULT_POSITIVE_REPLY || positiveSource === 'OK $value';
  const positive = isDefault
    ? (vars: HitVars) => ctx.reply.ok(vars.value)
    : (vars: HitVars) => positiveTpl.render((n) => vars[n as keyof HitVars]);
  return { perEntry, positive, negative };
}
