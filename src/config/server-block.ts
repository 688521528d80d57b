/**
 * `server ID URL [begin … end]`: one listener and its own settings. Fixes two GNU Smap bugs on purpose:
 * `reuseaddr yes` here means reuse (GNU inverts it), and `allgroups` works (GNU crashes).
 */
import { ConfigError } from '../errors.js';
import { applyBlock, type BlockHandler } from './block.js';
import type { Statement } from './lexer.js';
import { duplicateError, type Draft, type ServerDraft } from './draft.js';
import { parseListenUrl } from './url.js';
import { argsOf, boolArg, durationArg, intArg, MAX_BACKLOG, MAX_CONNECTIONS_LIMIT, modeArg, wordLoc } from './values.js';

function one(stmt: Statement, usage: string) {
  return argsOf(stmt, 1, 1, usage)[0]!;
}

function unixOnly(stmt: Statement, srv: ServerDraft): void {
  if (srv.url.kind !== 'unix') {
    throw new ConfigError(`'${stmt.words[0]!.text}' applies only to unix-socket servers, and '${srv.id}' listens on ${srv.url.text}`, stmt.loc);
  }
}

/**
 * `user:group`, `user.group`, `user`, `user:` or `:group`, as GNU Smap's socket-owner accepts. A colon wins
 * over a dot, so that a user name containing dots (`john.doe:mail`) still works.
 */
export function parseSocketOwner(text: string): { user?: string; group?: string } {
  const sep = text.includes(':') ? text.indexOf(':') : text.indexOf('.');
  const user = sep < 0 ? text : text.slice(0, sep);
  const group = sep < 0 ? '' : text.slice(sep + 1);
  if (user === '' && group === '') throw new ConfigError(`socket-owner '${text}' names neither a user nor a group`);
  if (group.includes(':')) throw new ConfigError(`socket-owner '${text}': expected USER:GROUP`);
  return { ...(user !== '' ? { user } : {}), ...(group !== '' ? { group } : {}) };
}

const handlers: Record<string, BlockHandler<ServerDraft>> = {
  backlog: (s, srv) => void (srv.backlog = intArg(s, one(s, 'backlog N'), 1, MAX_BACKLOG)),
  reuseaddr: (s, srv) => void (srv.reuseAddr = boolArg(s, one(s, 'reuseaddr yes|no'))),
  'max-children': (s, srv) => void (srv.maxConnections = intArg(s, one(s, 'max-children N'), 0, MAX_CONNECTIONS_LIMIT)),
  'max-connections': (s, srv) => void (srv.maxConnections = intArg(s, one(s, 'max-connections N'), 0, MAX_CONNECTIONS_LIMIT)),
  'single-process': (s) => void boolArg(s, one(s, 'single-process yes|no')),
  user: (s, srv) => {
    const w = one(s, 'user NAME');
    if (w.text === '') throw new ConfigError(`'user' needs a non-empty user name`, s.loc);
    srv.user = w.text;
  },
  group: (s, srv) => {
    for (const w of argsOf(s, 1, Infinity, 'group NAME...')) {
      if (w.text === '') throw new ConfigError(`'group' needs non-empty group names`, wordLoc(s, w));
      srv.groups.push(w.text);
    }
  },
  allgroups: (s, srv) => void (srv.allGroups = boolArg(s, one(s, 'allgroups yes|no'))),
  'socket-owner': (s, srv) => {
    const w = one(s, 'socket-owner USER[:GROUP] | :GROUP');
    unixOnly(s, srv);
    try {
      srv.socketOwner = parseSocketOwner(w.text);
    } catch (err) {
      throw new ConfigError((err as Error).message, wordLoc(s, w));
    }
  },
  'socket-mode': (s, srv) => {
    const w = one(s, 'socket-mode MODE');
    unixOnly(s, srv);
    srv.socketMode = modeArg(s, w);
  },
  'idle-timeout': (s, srv) => void (srv.idleTimeout = durationArg(s, one(s, 'idle-timeout DURATION'))),
  'request-timeout': (s, srv) => void (srv.requestTimeout = durationArg(s, one(s, 'request-timeout DURATION'))),
  'ipv6-only': (s, srv) => {
    const w = one(s, 'ipv6-only yes|no');
    if (srv.url.kind !== 'inet6') {
      throw new ConfigError(`'ipv6-only' applies only to IPv6 servers, and '${srv.id}' listens on ${srv.url.text}`, s.loc);
    }
    srv.ipv6Only = boolArg(s, w);
  },
};

export const SERVER_KEYWORDS: readonly string[] = Object.keys(handlers);

/**
 * Declare the server of `stmt` (the header without its `begin`) and apply its block. Errors in block statements are collected so that each is
 * reported; a bad header throws (the block is then skipped by the caller, having no server to apply to).
 */
export function parseServer(stmt: Statement, body: readonly Statement[] | undefined, d: Draft, errors: ConfigError[]): void {
  const args = argsOf(stmt, 2, 2, 'server ID URL [begin]');
  const id = args[0]!.text;
  if (id === '') throw new ConfigError(`'server' needs a non-empty id`, stmt.loc);
  const urlWord = args[1]!;
  let url;
  try {
    url = parseListenUrl(urlWord.text);
  } catch (err) {
    throw new ConfigError(`server '${id}': ${(err as Error).message}`, wordLoc(stmt, urlWord));
  }
  const first = d.servers.find((s) => s.id === id);
  if (first) throw duplicateError('server', id, stmt.loc, first.loc);
  const srv: ServerDraft = {
    id,
    url,
    backlog: undefined,
    maxConnections: 0,
    socketMode: undefined,
    socketOwner: undefined,
    idleTimeout: undefined,
    requestTimeout: undefined,
    ipv6Only: undefined,
    reuseAddr: undefined,
    user: undefined,
    groups: [],
    allGroups: false,
    loc: stmt.loc,
  };
  d.servers.push(srv);
  applyBlock('server', body, handlers, srv, errors);
}
