/**
 * The daemon's logger: pino, to stderr, stdout or a file, as JSON lines or as one human line per event
 * (`log-format text`, made by pino-pretty: time, level, message, then the event's fields).
 * GNU Smap's debug spec (`module.5`, `query`, `3`) maps onto pino levels per category: a category's
 * child logger logs at `debug` from level 1 and at `trace` from level 10.
 */
import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { SmapdConfig } from './config/types.js';

export type LogSettings = SmapdConfig['log'];

// Writes are synchronous: nothing is logged per request unless tracing, and a daemon must not lose its last
// lines (a fatal error, the stop) to a buffer that dies with the process.
export function createLogger(settings: LogSettings, name = 'smapd'): Logger {
  let dest: pino.DestinationStream;
  switch (settings.destination) {
    case 'file':
      dest = pino.destination({ dest: settings.file!, mkdir: true, sync: true });
      break;
    case 'stdout':
      dest = pino.destination({ dest: 1, sync: true });
      break;
    default:
      // syslog is reached through stderr: under systemd stderr goes to the journal.
      dest = pino.destination({ dest: 2, sync: true });
  }
  const level = debugLevelFor(settings, 'smap') ?? settings.level;
  const options = { name: settings.tag || name, level, base: { pid: process.pid } };
  const log = logFormatOf(settings) === 'text' ? pino(options, textStream(dest)) : pino(options, dest);
  files.set(log, dest);
  return log;
}

/** The file stream under each logger, which the text formatter hides from pino: `reopenLog` needs it. */
const files = new WeakMap<Logger, pino.DestinationStream>();

/** What `auto` means here: text for a person (a terminal) or for the journal, JSON for files and pipes. */
export function logFormatOf(settings: LogSettings, env: NodeJS.ProcessEnv = process.env, stderrIsTty = process.stderr.isTTY === true): 'text' | 'json' {
  if (settings.format !== 'auto') return settings.format;
  if (settings.destination === 'file') return 'json';
  const stream = settings.destination === 'stdout' ? process.stdout.isTTY === true : stderrIsTty;
  return stream || (env.JOURNAL_STREAM !== undefined && env.JOURNAL_STREAM !== '') ? 'text' : 'json';
}

/**
 * One line per event: `2026-11-29 07:22:30.123 INFO  listening server=main url=inet://127.0.0.1:3145`.
 * The pid and the name are left out (the journal and the terminal already know them); the fields follow
 * the message on the same line, so grep finds the whole event.
 */
function textStream(dest: pino.DestinationStream): NodeJS.WritableStream {
  return pinoPretty({
    destination: dest,
    sync: true,
    colorize: false,
    singleLine: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname,name',
  });
}

/** The pino level a debug category asks for, or undefined when the spec does not mention it. */
export function debugLevelFor(settings: LogSettings, category: string): 'debug' | 'trace' | undefined {
  const n = Object.hasOwn(settings.debug, category) ? settings.debug[category] : undefined;
  if (n === undefined || n <= 0) return undefined;
  return n >= 10 ? 'trace' : 'debug';
}

/** A child logger for a debug category, at the level the debug spec gives it. */
export function categoryLogger(root: Logger, settings: LogSettings, category: string): Logger {
  const level = debugLevelFor(settings, category);
  return level ? root.child({ cat: category }, { level }) : root.child({ cat: category });
}

/**
 * Reopen the log file (after logrotate moved it): SIGHUP does this before it reloads the config. A no-op
 * for stderr and stdout.
 */
export function reopenLog(log: Logger, settings: LogSettings): void {
  if (settings.destination !== 'file') return;
  const stream = (files.get(log) ?? (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym]) as { reopen?: () => void } | undefined;
  try {
    stream?.reopen?.();
  } catch (err) {
    log.error({ err: (err as Error).message, file: settings.file }, 'cannot reopen the log file');
  }
}
