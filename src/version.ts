/** The smapd version, from package.json. */
import { readFileSync } from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      return JSON.parse(readFileSync(path.resolve(import.meta.dirname, rel), 'utf8')).version as string;
    } catch {
      /* try the next layout */
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
