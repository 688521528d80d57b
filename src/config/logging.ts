/**
 * The logging statements' values: syslog facility names, pino log levels, and GNU Smap's debug spec.
 */
import { ConfigError, type SourceLocation } from '../errors.js';
import type { LogFormat, SmapdConfig } from './types.js';
import { keywordEntry } from './keywords.js';
import { didYouMean } from './suggest.js';

export type LogLevel = SmapdConfig['log']['level'];

/** The facilities GNU Smap accepts (its syslog_fname_to_n table). */
export const FACILITIES: readonly string[] = [
  'user', 'daemon', 'auth', 'authpriv', 'mail', 'cron',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
];

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** GNU Smap matches facility names in either case; they are stored in lower case. */
export function parseFacility(text: string, loc: SourceLocation): string {
  const name = text.toLowerCase();
  if (!FACILITIES.includes(name)) {
    throw new ConfigError(`unknown syslog facility '${text}'${didYouMean(name, FACILITIES)}; use one of ${FACILITIES.join(', ')}`, loc);
  }
  return name;
}

/** syslog's spelling, which people coming from GNU Smap will type. */
const LEVEL_ALIASES: Readonly<Record<string, LogLevel>> = { warning: 'warn' };

export function parseLogLevel(text: string, loc: SourceLocation): LogLevel {
  const name = text.toLowerCase();
  const level = keywordEntry(LEVEL_ALIASES, name) ?? LOG_LEVELS.find((l) => l === name);
  if (level === undefined) {
    throw new ConfigError(`unknown log level '${text}'${didYouMean(text, LOG_LEVELS)}; use one of ${LOG_LEVELS.join(', ')}`, loc);
  }
  return level;
}

export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json', 'auto'];

export function parseLogFormat(text: string, loc: SourceLocation): LogFormat {
  const format = LOG_FORMATS.find((f) => f === text.toLowerCase());
  if (format === undefined) throw new ConfigError(`unknown log format '${text}'${didYouMean(text, LOG_FORMATS)}; use one of ${LOG_FORMATS.join(', ')}`, loc);
  return format;
}

/** The category a bare number sets, as in GNU Smap where `-d 5` is the global level. */
export const GLOBAL_DEBUG_CATEGORY = 'smap';

/** A bare category name means "everything in it", which GNU Smap spells as level 100. */
export const FULL_DEBUG_LEVEL = 100;

const MAX_DEBUG_LEVEL = 1000;

/**
 * Parse debug specs (`5`, `module.3`, `query`), each word possibly holding several separated by commas, into
 * category → level. Categories are not checked against a list: modules add their own.
 */
export function parseDebugSpec(words: readonly string[], loc: SourceLocation): Record<string, number> {
  // No prototype: `debug __proto__` or `debug constructor` must be plain category names.
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const word of words) {
    for (const part of word.split(',')) {
      if (part === '') continue;
      const m = /^(?:(\d+)|([A-Za-z_][A-Za-z0-9_-]*)(?:\.(\d+))?)$/.exec(part);
      if (!m) {
        throw new ConfigError(`invalid debug spec '${part}': use LEVEL, CATEGORY or CATEGORY.LEVEL (e.g. 2, query, module.5)`, loc);
      }
      const levelText = m[1] ?? m[3];
      const level = levelText === undefined ? FULL_DEBUG_LEVEL : Number(levelText);
      if (level > MAX_DEBUG_LEVEL) throw new ConfigError(`debug level ${levelText} is too large (at most ${MAX_DEBUG_LEVEL})`, loc);
      out[m[2] ?? GLOBAL_DEBUG_CATEGORY] = level;
    }
  }
  if (Object.keys(out).length === 0) throw new ConfigError(`'debug' needs a spec such as 2, query or module.5`, loc);
  return out;
}
