/**
 * The `allow-missing` option of the modules that serve a local file or directory (`file`, `sqlite`, `level`),
 * and the check it relaxes. A map whose file is not there passes nothing at run time: every lookup answers
 * TEMP, which Postfix defers mail on. So a missing file is a config error — `smapd -t`, a start and a reload
 * refuse it — unless the database says it will appear later (`allow-missing`), which makes it a warning.
 */
import { statSync } from 'node:fs';
import { ModuleArgumentError, type DatabaseContext, type OptionSpec } from '../../src/modules/api.js';

export const ALLOW_MISSING_OPTION: OptionSpec = {
  'allow-missing': { type: 'boolean', default: false },
};

/**
 * Throw a `ModuleArgumentError` when `location` does not exist, or only warn when `allowMissing`. A stat is
 * the one I/O this does: the file is opened later, by `openDb`.
 */
export function checkPresent(location: string, what: string, allowMissing: boolean, ctx: DatabaseContext): void {
  if (statSync(location, { throwIfNoEntry: false }) !== undefined) return;
  if (allowMissing) {
    ctx.log.warn({ path: location }, `${what} ${location} does not exist (allow-missing): lookups answer TEMP until it does`);
    return;
  }
  throw new ModuleArgumentError(
    `${what} ${location} does not exist: every lookup would answer TEMP (add allow-missing if it is made later)`,
  );
}
