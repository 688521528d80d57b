/**
 * Argument checks shared by all statements. Each throws a `ConfigError` located at the offending word, so a
 * value on a continuation line is reported on its own line.
 */
import path from 'node:path';
import { ConfigError, type SourceLocation } from '../errors.js';
import { parseBoolean, parseDuration, parseSize } from '../modules/options.js';
import type { Statement, Word } from './lexer.js';

/** Node's timers overflow above this (about 24.8 days), so no duration may exceed it. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** listen(2) takes an int, but kernels clamp far below; anything larger is a typo. */
export const MAX_BACKLOG = 65535;
/** A sanity bound for connection limits, global and per server. */
export const MAX_CONNECTIONS_LIMIT = 1_000_000;

export function wordLoc(stmt: Statement, word: Word | undefined): SourceLocation {
  return word ? { file: stmt.loc.file, line: word.line } : stmt.loc;
}

/** The statement's arguments (the words after the keyword), checked for count. */
export function argsOf(stmt: Statement, min: number, max: number, usage: string): readonly Word[] {
  const keyword = stmt.words[0]!.text;
  const args = stmt.words.slice(1);
  if (args.length < min) {
    throw new ConfigError(`'${keyword}' needs ${min === max ? min : `at least ${min}`} argument${min === 1 ? '' : 's'}: ${usage}`, stmt.loc);
  }
  if (args.length > max) {
    const extra = args[max]!;
    throw new ConfigError(`too many arguments to '${keyword}' (unexpected '${extra.text}'): ${usage}`, wordLoc(stmt, extra));
  }
  return args;
}

export function boolArg(stmt: Statement, word: Word): boolean {
  const b = parseBoolean(word.text);
  if (b === undefined) {
    throw new ConfigError(
      `'${stmt.words[0]!.text}' expects yes or no (yes/on/t/true/1, no/off/nil/false/0), not '${word.text}'`,
      wordLoc(stmt, word),
    );
  }
  return b;
}

export function intArg(stmt: Statement, word: Word, min: number, max: number): number {
  const keyword = stmt.words[0]!.text;
  if (!/^\d+$/.test(word.text)) {
    throw new ConfigError(`'${keyword}' expects a whole number, not '${word.text}'`, wordLoc(stmt, word));
  }
  const n = Number(word.text);
  if (n < min || n > max) {
    throw new ConfigError(`'${keyword}' must be between ${min} and ${max}, not ${word.text}`, wordLoc(stmt, word));
  }
  return n;
}

/** A duration in ms: plain seconds as in GNU Smap, or with a unit (250ms, 30s, 10m, 1h, 1d). */
export function durationArg(stmt: Statement, word: Word, what = `'${stmt.words[0]!.text}'`): number {
  const ms = parseDuration(word.text);
  if (ms === undefined) {
    throw new ConfigError(
      `${what} expects a duration (seconds, or a number with ms, s, m, h or d), not '${word.text}'`,
      wordLoc(stmt, word),
    );
  }
  if (ms > MAX_DURATION_MS) throw new ConfigError(`${what}: ${word.text} is too long (at most 24 days)`, wordLoc(stmt, word));
  return ms;
}

/** A byte count: plain, or with K, M or G (powers of 1024). */
export function sizeArg(stmt: Statement, word: Word, min: number, max: number, what = `'${stmt.words[0]!.text}'`): number {
  const n = parseSize(word.text);
  if (n === undefined) {
    throw new ConfigError(`${what} expects a size (bytes, or a number with K, M or G), not '${word.text}'`, wordLoc(stmt, word));
  }
  if (n < min || n > max) {
    throw new ConfigError(`${what} must be between ${min} and ${max} bytes, not ${word.text}`, wordLoc(stmt, word));
  }
  return n;
}

/** A file mode: octal (`600`, `0660`) or `ls` form (`rw-rw----`), as GNU Smap accepts. */
export function modeArg(stmt: Statement, word: Word): number {
  const text = word.text;
  if (/^[0-7]+$/.test(text)) {
    const mode = parseInt(text, 8);
    if (mode > 0o777) {
      throw new ConfigError(`socket mode ${text} has bits beyond 0777 (setuid/setgid/sticky mean nothing on a socket)`, wordLoc(stmt, word));
    }
    return mode;
  }
  if (/^([r-][w-][x-]){3}$/.test(text)) {
    let mode = 0;
    for (const c of text) mode = (mode << 1) | (c === '-' ? 0 : 1);
    return mode;
  }
  throw new ConfigError(`invalid socket mode '${text}': use octal (0660) or the ls form (rw-rw----)`, wordLoc(stmt, word));
}

/** Relative paths in the config mean relative to the config file's directory, not to smapd's cwd. */
export function resolvePath(stmt: Statement, word: Word, configDir: string): string {
  if (word.text === '') throw new ConfigError(`'${stmt.words[0]!.text}' needs a non-empty path`, wordLoc(stmt, word));
  if (word.text.includes('\0')) throw new ConfigError(`path contains a NUL byte`, wordLoc(stmt, word));
  return path.resolve(configDir, word.text);
}

/** A `dir:dir` list for the load-path statements. */
export function pathListArg(stmt: Statement, word: Word, configDir: string): string[] {
  return word.text.split(':').map((dir) => {
    if (dir === '') {
      throw new ConfigError(`empty directory in '${word.text}' (a stray ':'?)`, wordLoc(stmt, word));
    }
    return path.resolve(configDir, dir);
  });
}
