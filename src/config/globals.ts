/**
 * The one-line global statements: GNU Smap's `smap_kwtab` (except server, database and dispatch, which have
 * their own files) and smapd's additions. Each handler checks its arguments and sets the draft.
 */
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { REPLY_SIZE_CEILING } from '../protocol/reply.js';
import type { Statement } from './lexer.js';
import { duplicateError, type Draft } from './draft.js';
import { parseDebugSpec, parseFacility, parseLogFormat, parseLogLevel } from './logging.js';
import { splitHostPort } from './url.js';
import {
  argsOf,
  boolArg,
  durationArg,
  intArg,
  MAX_BACKLOG,
  MAX_CONNECTIONS_LIMIT,
  modeArg,
  pathListArg,
  resolvePath,
  sizeArg,
  wordLoc,
} from './values.js';

export type GlobalHandler = (stmt: Statement, d: Draft) => void;

/** Nothing any client reads can be longer (REPLY_SIZE_CEILING). */
export const MAX_REPLY_SIZE_LIMIT = REPLY_SIZE_CEILING;
/** Room for the `PERM` reply that replaces an over-long answer. */
export const MIN_REPLY_SIZE = 64;
/** Each connection may buffer this much; more is a memory hazard, not a lookup key. */
export const MAX_REQUEST_SIZE_LIMIT = 64 * 1024 * 1024;
export const MAX_WORKERS = 1024;
/** Below this a connection would stop answering after a handful of small replies. */
export const MIN_REPLY_BUFFER = 4 * 1024;
/** Multiplied by max-connections this is the daemon's worst case; more per connection is a typo. */
export const MAX_REPLY_BUFFER = 256 * 1024 * 1024;

function dir(stmt: Statement): string {
  return path.dirname(stmt.loc.file);
}

function one(stmt: Statement, usage: string) {
  return argsOf(stmt, 1, 1, usage)[0]!;
}

function nonEmpty(stmt: Statement, text: string, what: string): string {
  if (text === '') throw new ConfigError(`'${stmt.words[0]!.text}' needs a non-empty ${what}`, stmt.loc);
  return text;
}

const handlers: Record<string, GlobalHandler> = {
  'inetd-mode': (s, d) => void (d.inetdMode = boolArg(s, one(s, 'inetd-mode yes|no'))),
  pidfile: (s, d) => void (d.pidfile = resolvePath(s, one(s, 'pidfile FILE'), dir(s))),
  foreground: (s, d) => void (d.foreground = boolArg(s, one(s, 'foreground yes|no'))),
  'idle-timeout': (s, d) => void (d.idleTimeout = durationArg(s, one(s, 'idle-timeout DURATION'))),
  'shutdown-timeout': (s, d) => void (d.shutdownTimeout = durationArg(s, one(s, 'shutdown-timeout DURATION'))),

  'log-to-stderr': (s, d) => {
    if (boolArg(s, one(s, 'log-to-stderr yes|no'))) d.log.destination = 'stderr';
    else if (d.log.destination === 'stderr') d.log.destination = 'syslog';
  },
  'log-to-syslog': (s, d) => {
    if (boolArg(s, one(s, 'log-to-syslog yes|no'))) d.log.destination = 'syslog';
    else if (d.log.destination === 'syslog') d.log.destination = 'stderr';
  },
  'log-file': (s, d) => {
    d.log.file = resolvePath(s, one(s, 'log-file FILE'), dir(s));
    d.log.destination = 'file';
  },
  'log-tag': (s, d) => void (d.log.tag = nonEmpty(s, one(s, 'log-tag TAG').text, 'tag')),
  'log-facility': (s, d) => {
    const w = one(s, 'log-facility NAME');
    d.log.facility = parseFacility(w.text, wordLoc(s, w));
  },
  'log-level': (s, d) => {
    const w = one(s, 'log-level fatal|error|warn|info|debug|trace');
    d.log.level = parseLogLevel(w.text, wordLoc(s, w));
  },
  'log-format': (s, d) => {
    const w = one(s, 'log-format text|json|auto');
    d.log.format = parseLogFormat(w.text, wordLoc(s, w));
  },
  // Several debug statements add up, as several -d options do.
  debug: (s, d) => {
    const args = argsOf(s, 1, Infinity, 'debug SPEC...');
    Object.assign(d.log.debug, parseDebugSpec(args.map((w) => w.text), s.loc));
  },
  trace: (s, d) => void (d.trace = boolArg(s, one(s, 'trace yes|no'))),
  'trace-pattern': (s, d) => {
    for (const w of argsOf(s, 1, Infinity, 'trace-pattern PREFIX...')) d.tracePatterns.push(nonEmpty(s, w.text, 'pattern'));
  },

  user: (s, d) => void (d.user = nonEmpty(s, one(s, 'user NAME').text, 'user name')),
  group: (s, d) => {
    for (const w of argsOf(s, 1, Infinity, 'group NAME...')) d.groups.push(nonEmpty(s, w.text, 'group name'));
  },
  allgroups: (s, d) => void (d.allGroups = boolArg(s, one(s, 'allgroups yes|no'))),
  'socket-mode': (s, d) => void (d.socketMode = modeArg(s, one(s, 'socket-mode MODE'))),
  backlog: (s, d) => void (d.backlog = intArg(s, one(s, 'backlog N'), 1, MAX_BACKLOG)),
  reuseaddr: (s, d) => void (d.reuseAddr = boolArg(s, one(s, 'reuseaddr yes|no'))),
  'max-children': (s, d) => void (d.maxConnections = intArg(s, one(s, 'max-children N'), 0, MAX_CONNECTIONS_LIMIT)),
  'max-connections': (s, d) => void (d.maxConnections = intArg(s, one(s, 'max-connections N'), 0, MAX_CONNECTIONS_LIMIT)),
  'max-connections-per-address': (s, d) =>
    void (d.maxConnectionsPerAddress = intArg(s, one(s, 'max-connections-per-address N'), 0, MAX_CONNECTIONS_LIMIT)),
  'when-full': (s, d) => {
    const w = one(s, 'when-full evict|refuse');
    if (w.text !== 'evict' && w.text !== 'refuse') {
      throw new ConfigError(`'when-full' expects evict or refuse, not '${w.text}'`, wordLoc(s, w));
    }
    d.whenFull = w.text;
  },
  'request-timeout': (s, d) => void (d.requestTimeout = durationArg(s, one(s, 'request-timeout DURATION'))),
  'max-reply-buffer': (s, d) => void (d.maxReplyBuffer = sizeArg(s, one(s, 'max-reply-buffer SIZE'), MIN_REPLY_BUFFER, MAX_REPLY_BUFFER)),
  // Accepted for GNU Smap configs; smapd never forks per connection, so there is nothing to switch off.
  'single-process': (s) => void boolArg(s, one(s, 'single-process yes|no')),

  'load-path': (s, d) => void d.appendPath.push(...pathListArg(s, one(s, 'load-path DIR[:DIR...]'), dir(s))),
  'append-load-path': (s, d) => void d.appendPath.push(...pathListArg(s, one(s, 'append-load-path DIR[:DIR...]'), dir(s))),
  'prepend-load-path': (s, d) => void d.prependPath.push(...pathListArg(s, one(s, 'prepend-load-path DIR[:DIR...]'), dir(s))),

  'max-request-size': (s, d) => void (d.maxRequestSize = sizeArg(s, one(s, 'max-request-size SIZE'), 1, MAX_REQUEST_SIZE_LIMIT)),
  'max-reply-size': (s, d) => {
    const w = one(s, 'max-reply-size SIZE');
    const n = sizeArg(s, w, 0, Number.MAX_SAFE_INTEGER);
    if (n < MIN_REPLY_SIZE) {
      throw new ConfigError(`max-reply-size must be at least ${MIN_REPLY_SIZE} bytes, to leave room for the PERM reply that replaces a long answer`, wordLoc(s, w));
    }
    if (n > MAX_REPLY_SIZE_LIMIT) {
      throw new ConfigError(
        `max-reply-size ${w.text} is above ${MAX_REPLY_SIZE_LIMIT}, the most any sockmap client reads ` +
          `(Sendmail ${REPLY_SIZE_CEILING}, Postfix 100000); longer replies would break the client's connection`,
        wordLoc(s, w),
      );
    }
    d.maxReplySize = n;
  },
  workers: (s, d) => void (d.workers = intArg(s, one(s, 'workers N'), 1, MAX_WORKERS)),
  'control-socket': (s, d) => void (d.controlSocket = resolvePath(s, one(s, 'control-socket PATH'), dir(s))),
  'metrics-listen': (s, d) => {
    const w = one(s, 'metrics-listen HOST:PORT');
    try {
      const { host, port } = splitHostPort(w.text, `metrics-listen '${w.text}'`);
      d.metricsListen = { host, port };
    } catch (err) {
      throw new ConfigError((err as Error).message, wordLoc(s, w));
    }
  },

  module: (s, d) => {
    const args = argsOf(s, 2, Infinity, 'module ID NAME [ARGS...]');
    const id = nonEmpty(s, args[0]!.text, 'module id');
    const name = nonEmpty(s, args[1]!.text, 'module name');
    const first = d.modules.find((m) => m.id === id);
    if (first) throw duplicateError('module', id, s.loc, first.loc);
    d.modules.push({ id, name, args: args.slice(2).map((w) => w.text), loc: s.loc });
  },
};

export const GLOBAL_HANDLERS: Readonly<Record<string, GlobalHandler>> = handlers;
