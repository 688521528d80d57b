/**
 * User and group names to ids, resolved by the system's name service switch (files, LDAP, sssd, NIS…), as
 * getpwnam and getgrnam would: Node has neither, so `getent` (glibc's NSS front end) is asked. Where there is
 * no getent, /etc/passwd and /etc/group are read. Numeric ids are taken as they are. Used for `socket-owner`
 * and for dropping privileges, at start only: never on the request path.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

type Database = 'passwd' | 'group';

const FILES: Readonly<Record<Database, string>> = { passwd: '/etc/passwd', group: '/etc/group' };

/** The entry's fields, or null when the name is unknown; undefined when getent cannot be run. */
function getent(db: Database, name: string): string[] | null | undefined {
  try {
    const out = execFileSync('getent', [db, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 });
    const line = out.split('\n')[0] ?? '';
    return line === '' ? null : line.split(':');
  } catch (err) {
    // getent exits 2 for "not found"; ENOENT means there is no getent (not glibc): read the files.
    const e = err as NodeJS.ErrnoException & { status?: number | null };
    if (e.code === 'ENOENT') return undefined;
    if (e.status === 2) return null;
    return undefined;
  }
}

function fromFile(db: Database, name: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(FILES[db], 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    if (parts[0] === name) return parts;
  }
  return null;
}

function lookup(db: Database, name: string, field: number): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  if (name === '' || name.startsWith('-')) return undefined;
  const viaNss = getent(db, name);
  const fields = viaNss === undefined ? fromFile(db, name) : viaNss;
  const value = fields?.[field];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

export function userId(name: string): number | undefined {
  return lookup('passwd', name, 2);
}

export function userPrimaryGroup(name: string): number | undefined {
  return lookup('passwd', name, 3);
}

export function groupId(name: string): number | undefined {
  return lookup('group', name, 2);
}
