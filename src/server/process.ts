/** Process-level chores of a daemon: the pidfile and dropping root privileges. */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { groupId, userId, userPrimaryGroup } from './accounts.js';

/** Write the pidfile; refuse when it names a process that is still alive (another smapd). */
export function writePidfile(file: string): void {
  try {
    const old = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(old) && old > 0 && old !== process.pid) {
      try {
        process.kill(old, 0);
        throw new ConfigError(`pidfile ${file}: process ${old} is still running`);
      } catch (err) {
        if (err instanceof ConfigError) throw err;
      }
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
}

export function removePidfile(file: string): void {
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === process.pid) unlinkSync(file);
  } catch {
    /* gone already, or not ours */
  }
}

/** Switch to `user` (and its primary group plus `groups`) when running as root; a no-op otherwise. */
export function dropPrivileges(
  user: string | undefined,
  groups: readonly string[],
  allGroups: boolean,
  log: Logger,
): void {
  if (user === undefined || typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const uid = userId(user);
  const gid = userPrimaryGroup(user);
  if (uid === undefined || gid === undefined) throw new ConfigError(`user: no such user '${user}'`);
  const extra: number[] = [];
  for (const g of groups) {
    const id = groupId(g);
    if (id === undefined) throw new ConfigError(`group: no such group '${g}'`);
    extra.push(id);
  }
  if (allGroups) (process as unknown as { initgroups(u: string, g: number): void }).initgroups(user, gid);
  else process.setgroups!([gid, ...extra]);
  process.setgid!(gid);
  process.setuid!(uid);
  log.info({ user, uid, gid }, 'dropped privileges');
}
