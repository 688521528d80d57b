/**
 * Whether a CLI module is the program node was started with, rather than imported (by tests, or by another
 * entry point). Both sides go through realpath, so a bin symlink (`node_modules/.bin/smapd`) still counts.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when the module whose `import.meta.url` is given is the main module of this process. */
export function isMainModule(importMetaUrl: string): boolean {
  try {
    // fileURLToPath, not URL.pathname: a path with spaces or other escaped characters must still compare equal.
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}
