/**
 * libpq's connection service file (pg_service.conf), so `service=NAME` works as it did in GNU Smap, which
 * handed its conninfo to libpq. Syntax (as the PostgreSQL manual describes it): `[name]` sections of
 * `keyword=value` lines, `#` comments, blank lines. Files, as libpq looks for them: `$PGSERVICEFILE` or
 * `~/.pg_service.conf` first, then `$PGSYSCONFDIR/pg_service.conf` (Debian's libpq: /etc/postgresql-common).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { ModuleArgumentError } from '../../src/modules/api.js';

/** Where Debian's libpq keeps the system-wide service file when PGSYSCONFDIR is not set. */
export const DEFAULT_SYSCONFDIR = '/etc/postgresql-common';

/** The files libpq would read, in order, for the current environment. */
export function serviceFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const user = env.PGSERVICEFILE ?? path.join(homedir(), '.pg_service.conf');
  const system = path.join(env.PGSYSCONFDIR ?? DEFAULT_SYSCONFDIR, 'pg_service.conf');
  return [user, system];
}

/** The settings of service `name` from one file's text, or undefined when the file has no such section. */
export function parseService(text: string, file: string, name: string): Map<string, string> | undefined {
  let found: Map<string, string> | undefined;
  let inside = false;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const m = /^\[([^\]]+)\]$/.exec(line);
      if (m === null) throw new ModuleArgumentError(`${file}:${n + 1}: malformed section header ${line}`);
      inside = m[1]!.trim() === name;
      if (inside && found === undefined) found = new Map();
      continue;
    }
    if (!inside) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new ModuleArgumentError(`${file}:${n + 1}: expected keyword=value, not ${line}`);
    const key = line.slice(0, eq).trim();
    // libpq rejects a service inside a service, and so does this reader.
    if (key === 'service') throw new ModuleArgumentError(`${file}:${n + 1}: nested service specifications are not supported`);
    found!.set(key, line.slice(eq + 1).trim());
  }
  return found;
}

/** The settings of service `name`: the first file that has the section wins, as in libpq. */
export function readService(name: string, env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const files = serviceFiles(env);
  for (const file of files) {
    if (!existsSync(file)) continue;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ModuleArgumentError(`cannot read service file ${file}: ${(err as Error).message}`);
    }
    const found = parseService(text, file, name);
    if (found !== undefined) return found;
  }
  throw new ModuleArgumentError(`service '${name}' not found in ${files.join(' or ')}`);
}
