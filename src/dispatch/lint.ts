/**
 * Warnings about rules that load fine but cannot work as written: a rule after one that answers every
 * request is never tried. `smapd -t` prints them, and the daemon logs them at start.
 */
import type { RuleDecl } from '../config/types.js';
import { formatLocation } from '../errors.js';

export function ruleWarnings(rules: readonly RuleDecl[]): string[] {
  const catchAll = rules.findIndex((r) => r.conditions.length === 0 && r.action.kind === 'database');
  if (catchAll < 0) return [];
  const at = rules[catchAll]!.loc;
  return rules
    .slice(catchAll + 1)
    .map((r) => `${formatLocation(r.loc)}warning: this rule is never tried: the rule at ${at.file}:${at.line} answers every request`);
}
