/**
 * User and group names to ids, read from /etc/passwd and /etc/group (Node has no getpwnam). Numeric ids are
 * taken as they are. Used for `socket-owner` and for dropping privileges.
 */
import { readFileSync } from 'node:fs';

function lookup(file: string, name: string, field: number): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const parts = line.split(':');
    if (parts[0] === name && parts[field] !== undefined) return Number(parts[field]);
  }
  return undefined;
}

export function userId(name: string): number | undefined {
  return lookup('/etc/passwd', name, 2);
}

export function userPrimaryGroup(name: string): number | undefined {
  return lookup('/etc/passwd', name, 3);
}

export function groupId(name: string): number | undefined {
  return lookup('/etc/group', name, 2);
}
