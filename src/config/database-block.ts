/**
 * `database DBNAME MODID [ARGS...] [begin … end]`. The arguments belong to the module; the optional block
 * holds smapd's own per-database settings (`timeout`, `cache`), which GNU Smap does not have.
 */
import { ConfigError } from '../errors.js';
import { applyBlock, type BlockHandler } from './block.js';
import type { Statement } from './lexer.js';
import { duplicateError, type Draft } from './draft.js';
import type { CacheDecl } from './types.js';
import { didYouMean } from './suggest.js';
import { argsOf, durationArg, sizeArg, wordLoc } from './values.js';

export const CACHE_DEFAULTS: CacheDecl = {
  ttl: 60_000,
  negativeTtl: 0,
  size: 10_000,
  bytes: 16 * 1024 * 1024,
};

const CACHE_OPTIONS = ['ttl', 'negative-ttl', 'size', 'bytes'] as const;
const MAX_CACHE_ENTRIES = 100_000_000;
const MAX_CACHE_BYTES = 64 * 1024 ** 3;

interface DatabaseSettings {
  timeout: number;
  cache: CacheDecl | undefined;
}

function parseCache(stmt: Statement): CacheDecl {
  const cache = { ...CACHE_DEFAULTS };
  for (const w of stmt.words.slice(1)) {
    const eq = w.text.indexOf('=');
    const name = eq < 0 ? w.text : w.text.slice(0, eq);
    if (!(CACHE_OPTIONS as readonly string[]).includes(name)) {
      throw new ConfigError(`unknown cache option '${name}'${didYouMean(name, CACHE_OPTIONS)}; use ${CACHE_OPTIONS.map((o) => `${o}=`).join(', ')}`, wordLoc(stmt, w));
    }
    if (eq < 0) throw new ConfigError(`cache option '${name}' needs a value (${name}=...)`, wordLoc(stmt, w));
    const value = { ...w, text: w.text.slice(eq + 1) };
    const what = `cache ${name}`;
    switch (name) {
      case 'ttl':
        cache.ttl = durationArg(stmt, value, what);
        break;
      case 'negative-ttl':
        cache.negativeTtl = durationArg(stmt, value, what);
        break;
      case 'size':
        if (!/^\d+$/.test(value.text) || Number(value.text) < 1 || Number(value.text) > MAX_CACHE_ENTRIES) {
          throw new ConfigError(`cache size must be a whole number of entries from 1 to ${MAX_CACHE_ENTRIES}, not '${value.text}'`, wordLoc(stmt, w));
        }
        cache.size = Number(value.text);
        break;
      case 'bytes':
        cache.bytes = sizeArg(stmt, value, 1024, MAX_CACHE_BYTES, what);
        break;
    }
  }
  if (cache.ttl === 0 && cache.negativeTtl === 0) {
    throw new ConfigError('cache with ttl=0 and negative-ttl=0 would cache nothing; remove the cache statement instead', stmt.loc);
  }
  return cache;
}

const handlers: Record<string, BlockHandler<DatabaseSettings>> = {
  timeout: (s, settings) => {
    const [w] = argsOf(s, 1, 1, 'timeout DURATION');
    settings.timeout = durationArg(s, w!);
  },
  cache: (s, settings) => void (settings.cache = parseCache(s)),
};

export const DATABASE_KEYWORDS: readonly string[] = Object.keys(handlers);

/** Declare the database of `stmt` (the header without its `begin`) with the settings of its block. */
export function parseDatabase(stmt: Statement, body: readonly Statement[] | undefined, d: Draft, errors: ConfigError[]): void {
  const args = argsOf(stmt, 2, Infinity, 'database DBNAME MODULE-ID [ARGS...] [begin]');
  const id = args[0]!.text;
  const moduleId = args[1]!.text;
  if (id === '') throw new ConfigError(`'database' needs a non-empty name`, stmt.loc);
  if (moduleId === '') throw new ConfigError(`database '${id}': empty module id`, wordLoc(stmt, args[1]));
  const first = d.databases.find((db) => db.id === id);
  if (first) throw duplicateError('database', id, stmt.loc, first.loc);

  const settings: DatabaseSettings = { timeout: 0, cache: undefined };
  applyBlock('database', body, handlers, settings, errors);
  d.databases.push({
    id,
    moduleId,
    args: args.slice(2).map((w) => w.text),
    timeout: settings.timeout,
    cache: settings.cache,
    loc: stmt.loc,
  });
}
