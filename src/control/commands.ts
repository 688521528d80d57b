/**
 * The control-socket commands: `status`, `flush [DB]`, `db NAME COMMAND ARGS...`, `help`. Each request gets
 * exactly one reply, `OK text` or `ERR message`; nothing a command does can reach a mail client.
 */
import type { Logger } from 'pino';
import { collectStatus, type ControlDatabase, type ControlTarget } from './target.js';
import { splitWords } from './words.js';

export interface ControlReply {
  readonly ok: boolean;
  readonly text: string;
}

/** A module command that hangs must not hold the administrator's terminal forever. */
export const COMMAND_TIMEOUT_MS = 60_000;

const HELP = [
  'status                      counters and per-database statistics, as JSON',
  'flush [DB]                  empty the result cache of DB, or of every database',
  'db NAME COMMAND [ARGS...]   run an administrative command of database NAME',
  'db NAME                     list the commands of database NAME',
  'help                        this text',
  'Words are separated by spaces; put a word with spaces in double quotes ("a b"), with \\" and \\\\ inside.',
];

class CommandFailed extends Error {}

function fail(message: string): never {
  throw new CommandFailed(message);
}

export async function executeControl(
  target: ControlTarget,
  line: string,
  log: Logger,
  timeoutMs = COMMAND_TIMEOUT_MS,
): Promise<ControlReply> {
  try {
    let words: string[];
    try {
      words = splitWords(line);
    } catch (err) {
      fail((err as Error).message);
    }
    const [name, ...args] = words;
    switch (name) {
      case undefined:
        fail("empty command; try 'help'");
      case 'help':
        noArgs('help', args);
        return { ok: true, text: helpText(target) };
      case 'status':
        noArgs('status', args);
        return { ok: true, text: JSON.stringify(collectStatus(target)) };
      case 'flush':
        return { ok: true, text: flush(target, args, log) };
      case 'db':
        return { ok: true, text: await dbCommand(target, args, log, timeoutMs) };
      default:
        fail(`unknown command '${name}' (commands: status, flush, db, help)`);
    }
  } catch (err) {
    if (err instanceof CommandFailed) return { ok: false, text: err.message };
    // A module command's own error: report it, and log it, since it may point at a broken backend.
    const msg = err instanceof Error ? err.message : String(err);
    log.warn({ err: msg }, 'control: command failed');
    return { ok: false, text: msg === '' ? 'command failed' : msg };
  }
}

function noArgs(name: string, args: readonly string[]): void {
  if (args.length > 0) fail(`${name} takes no arguments`);
}

function helpText(target: ControlTarget): string {
  const withCommands = [...target.databases()].filter(([, db]) => db.commandNames.length > 0);
  const lines = [...HELP];
  if (withCommands.length > 0) {
    lines.push('Databases with commands:');
    for (const [name, db] of withCommands) lines.push(`  ${name}: ${db.commandNames.join(', ')}`);
  }
  return lines.join('\n');
}

function lookup(target: ControlTarget, name: string): ControlDatabase {
  const dbs = target.databases();
  const db = dbs.get(name);
  if (db === undefined) {
    const known = [...dbs.keys()];
    fail(`no such database: ${name}` + (known.length > 0 ? ` (databases: ${known.join(', ')})` : ' (none configured)'));
  }
  return db;
}

function flush(target: ControlTarget, args: readonly string[], log: Logger): string {
  if (args.length > 1) fail('usage: flush [DB]');
  if (args.length === 1) {
    const name = args[0]!;
    const db = lookup(target, name);
    if (db.cache === undefined) return `database ${name} has no cache`;
    const n = db.cache.stats().entries;
    db.cache.clear();
    log.info({ db: name, entries: n }, 'control: cache flushed');
    return `flushed ${plural(n, 'entry', 'entries')} from the cache of ${name}`;
  }
  let total = 0;
  let caches = 0;
  for (const db of target.databases().values()) {
    if (db.cache === undefined) continue;
    total += db.cache.stats().entries;
    db.cache.clear();
    caches++;
  }
  log.info({ caches, entries: total }, 'control: all caches flushed');
  return `flushed ${plural(total, 'entry', 'entries')} from ${plural(caches, 'cache', 'caches')}`;
}

async function dbCommand(target: ControlTarget, args: readonly string[], log: Logger, timeoutMs: number): Promise<string> {
  if (args.length === 0) fail('usage: db NAME COMMAND [ARGS...]');
  const [name, cmd, ...rest] = args as [string, string | undefined, ...string[]];
  const db = lookup(target, name);
  if (target.commandsRefused !== undefined) fail(target.commandsRefused);
  const names = db.commandNames;
  if (names.length === 0) fail(`database ${name} (module ${db.moduleId}) has no commands`);
  if (cmd === undefined || (cmd === 'help' && !names.includes('help'))) {
    return names.map((c) => db.commandHelp?.(c) ?? c).join('\n');
  }
  if (!names.includes(cmd)) fail(`database ${name} has no command '${cmd}' (it has: ${names.join(', ')})`);
  // Only the command name goes to the log: arguments may be addresses or other personal data.
  log.info({ db: name, command: cmd }, 'control: database command');
  try {
    return await withTimeout(db.command(cmd, rest), timeoutMs, `database ${name} did not finish '${cmd}' within ${timeoutMs / 1000} s`);
  } finally {
    // The command may have changed what the database answers; cached answers would hide that until they expire.
    db.cache?.clear();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CommandFailed(message)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
