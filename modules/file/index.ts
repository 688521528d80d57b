/**
 * The `file` module: a `key value` text map (Postfix postmap input format, see src/maps/textmap.ts) held in
 * memory (a `CompactTable`: one buffer of records and a hash index) and reloaded when the file changes. Lookups
 * are synchronous: one table probe on a hit with the default reply, because the reply is rendered when the
 * file is loaded.
 *
 *   database aliases file file=aliases.txt fold-case reload=10s
 *   database access  file file=access domain-fallback parent-domains nomore
 */
import path from 'node:path';
import { defineModule, foldCase, mapAndKeyOnly, MODULE_API_VERSION, ModuleArgumentError, BackendError } from '../../src/modules/api.js';
import type { DatabaseContext, OptionSpec, Reply } from '../../src/modules/api.js';
import { ALLOW_MISSING_OPTION, checkPresent } from '../map-common/missing.js';
import { compileMapReplies, MAP_REPLY_OPTIONS, type MapReplies } from '../map-common/replies.js';
import { fallbackKeys, type SearchOptions } from './search.js';
import { FileMapStore } from './store.js';

const OPTIONS: OptionSpec = {
  file: { type: 'string' },
  'fold-case': { type: 'boolean', default: false },
  'domain-fallback': { type: 'boolean', default: false },
  'parent-domains': { type: 'boolean', default: false },
  'allow-empty': { type: 'boolean', default: false },
  // Defaults are stored as given, not parsed, so this one is already in milliseconds.
  reload: { type: 'duration', default: 5000 },
  ...MAP_REPLY_OPTIONS,
  ...ALLOW_MISSING_OPTION,
};

/** The state of one `file` database; `store.checkNow()` forces a change check (tests, diagnostics). */
export interface FileDb {
  readonly store: FileMapStore;
  readonly foldCase: boolean;
  /** Null when no fallback option is on, so a miss costs nothing more. */
  readonly search: SearchOptions | null;
  readonly replies: MapReplies;
}

function initDb(args: readonly string[], ctx: DatabaseContext): FileDb {
  const parsed = ctx.parseOptions([...ctx.moduleArgs, ...args], OPTIONS, { allowPositional: true });
  if (parsed.positional.length > 0) {
    const word = parsed.positional[0]!;
    throw new ModuleArgumentError(`unexpected argument '${word}'${word.includes('=') ? '' : ` (did you mean file=${word}?)`}`);
  }
  const v = parsed.values;
  const fileArg = v['file'];
  if (typeof fileArg !== 'string' || fileArg === '') {
    throw new ModuleArgumentError('missing file=PATH: the text map to serve');
  }
  const replies = compileMapReplies(parsed, ctx);
  const foldCase = v['fold-case'] === true;
  const domainFallback = v['domain-fallback'] === true;
  const parentDomains = v['parent-domains'] === true;
  const search = domainFallback || parentDomains ? { domainFallback, parentDomains } : null;

  // Rendering the reply once per entry at load time makes a hit cost one probe and one string (the reply).
  const store = replies.perEntry
    ? (key: string, value: string): string => replies.positive({ map: '', key: '', value, matched: key })
    : (_key: string, value: string): string => value;

  const file = path.resolve(ctx.configDir, fileArg);
  checkPresent(file, 'map file', v['allow-missing'] === true, ctx);
  // The same file read with the same options gives the same map: after a config reload the new database may
  // serve the old one's while its file cannot be loaded (store.ts).
  const identity = JSON.stringify([file, ...ctx.moduleArgs, ...args]);
  const loadOptions = { foldCase, allowEmptyValues: v['allow-empty'] === true, store };
  return {
    store: new FileMapStore(file, loadOptions, Number(v['reload']), ctx.log, ctx.dataChanged, identity),
    foldCase,
    search,
    replies,
  };
}

function query(db: FileDb, map: string, key: string): Reply {
  const entries = db.store.entries;
  if (entries === null) throw new BackendError(`map ${db.store.file} is not loaded`);
  const wanted = db.foldCase ? foldCase(key) : key;
  let stored = entries.get(wanted);
  let matched = wanted;
  if (stored === undefined && db.search !== null) {
    for (const candidate of fallbackKeys(wanted, db.search)) {
      stored = entries.get(candidate);
      if (stored !== undefined) {
        matched = candidate;
        break;
      }
    }
  }
  if (stored === undefined) return db.replies.negative(map, key);
  if (db.replies.perEntry) return stored as Reply;
  return db.replies.positive({ map, key, value: stored, matched });
}

export default defineModule<FileDb>({
  apiVersion: MODULE_API_VERSION,
  capabilities: ['query'],
  answerDependsOn: mapAndKeyOnly,
  initDb,
  // A big map takes about a second to read: load it before the daemon (or a reloaded config) serves.
  openAtStart: true,
  openDb: (db) => db.store.open(),
  query,
  closeDb: (db) => db.store.close(),
});
