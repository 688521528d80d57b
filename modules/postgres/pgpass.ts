/**
 * libpq's password file, read when no password= is given: `$PGPASSFILE` or `~/.pgpass`, lines of
 * `hostname:port:database:username:password` where `*` matches anything and `\` escapes `:` and `\`. As
 * libpq, the file is ignored when others may read it, and the first matching line wins. A unix-socket
 * connection matches the hostname `localhost` (and the socket directory).
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Endpoint } from './settings.js';

function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) cur += line[++i];
    else if (c === ':' && out.length < 4) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** The password for this server, database and user from the password file, or undefined. Never throws. */
export function passwordFromFile(e: Endpoint, database: string, user: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.PGPASSFILE ?? path.join(homedir(), '.pgpass');
  let text: string;
  try {
    // Group or world access: libpq warns and ignores the file.
    if ((statSync(file).mode & 0o077) !== 0) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const hosts = e.socket ? ['localhost', e.address] : [e.host, e.address];
  const want = (pattern: string, values: readonly string[]): boolean => pattern === '*' || values.includes(pattern);
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const f = fields(line);
    if (f.length !== 5) continue;
    if (want(f[0]!, hosts) && want(f[1]!, [String(e.port)]) && want(f[2]!, [database]) && want(f[3]!, [user])) return f[4];
  }
  return undefined;
}
