/**
 * The reply options of the key-value map modules (`file`, `level`): `positive-reply=`, `negative-reply=`
 * and `nomore`, from the module kit, plus what both do with them: a positive reply that depends only on
 * the stored entry can be rendered once per entry, and the default `OK ${value}` skips the template.
 */
import { defineReplyOptions, type DatabaseContext, type ParsedOptions, type Reply } from '../../src/modules/api.js';

export const DEFAULT_POSITIVE_REPLY = 'OK ${value}';

const REPLIES = defineReplyOptions({
  positive: { default: DEFAULT_POSITIVE_REPLY, variables: ['map', 'key', 'value', 'matched'] },
  negative: { variables: ['map', 'key'] },
  nomore: true,
});

export const MAP_REPLY_OPTIONS = REPLIES.options;

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

const ENTRY_VARS = new Set(['value', 'matched']);

/** Compile the reply options of one database. */
export function compileMapReplies(parsed: Pick<ParsedOptions, 'values' | 'given'>, ctx: DatabaseContext): MapReplies {
  const t = REPLIES.compile(parsed, ctx);
  const negativeTpl = t.negative;
  const fixed = negativeTpl.constant;
  const negative =
    fixed !== undefined
      ? () => fixed
      : (map: string, key: string) => negativeTpl.render((n) => (n === 'map' ? map : n === 'key' ? key : undefined));

  const positiveTpl = t.positive;
  const positiveSource = String(parsed.values['positive-reply']);
  const perEntry = positiveTpl.variables.every((v) => ENTRY_VARS.has(v));
  const isDefault = positiveSource === DEFAULT_POSITIVE_REPLY || positiveSource === 'OK $value';
  const positive = isDefault
    ? (vars: HitVars) => ctx.reply.ok(vars.value)
    : (vars: HitVars) => positiveTpl.render((n) => vars[n as keyof HitVars]);
  return { perEntry, positive, negative };
}
