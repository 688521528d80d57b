/**
 * CPU time used by a server process and its children (the workers of `workers N`), from /proc. Requests per
 * second depend on everything else the machine is doing; CPU time per request does much less, so it is
 * the steadier way to compare smapd with the baseline on a shared or small machine. Linux only: elsewhere
 * the figures are simply not shown.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second as /proc reports them; 100 on every common Linux build. */
const TICKS_PER_SECOND = 100;

function ownTicks(pid: number): number {
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis):
  // utime and stime are fields 14 and 15 of the line, 12 and 13 counted from the state field.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    if (text !== '') for (const c of text.split(' ')) out.push(Number(c));
  }
  return out;
}

/** CPU seconds (user + system) of `pid` and its live descendants; undefined where /proc cannot tell. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined || process.platform !== 'linux') return undefined;
  try {
    let ticks = 0;
    const todo = [pid];
    while (todo.length > 0) {
      const p = todo.pop()!;
      ticks += ownTicks(p);
      todo.push(...childrenOf(p));
    }
    return ticks / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
