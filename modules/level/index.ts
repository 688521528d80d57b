/**
 * The `level` module: lookups in a LevelDB directory (built with `smapd-makemap --type level`), for maps too
 * big to hold in memory or that should load instantly. smapd only reads it. LevelDB locks its directory
 * against other processes, hence `multiProcess: false`.
 *
 *   database aliases level path=/var/lib/smapd/aliases.ldb fold-case
 *   database maps    level path=/var/lib/smapd/maps.ldb keys=sublevel   # one sublevel per map name
 *   database hot     level path=/var/lib/smapd/hot.ldb read=sync        # reads on the event loop
 */
import path from 'node:path';
import { defineModule, foldCase, mapAndKeyOnly, MODULE_API_VERSION, ModuleArgumentError, BackendError } from '../../src/modules/api.js';
import { bytesToText, hasRawBytes, keyBytes } from '../../src/modules/api.js';
import type { DatabaseContext, OptionSpec, Reply } from '../../src/modules/api.js';
import { ALLOW_MISSING_OPTION, checkPresent } from '../map-common/missing.js';
import { compileMapReplies, MAP_REPLY_OPTIONS, type MapReplies } from '../map-common/replies.js';
import { acquireLevel, describeLevelError, releaseLevel, type LevelDb } from './shared.js';

type KeyMode = 'plain' | 'sublevel';
type ReadMode = 'async' | 'sync';

const OPTIONS: OptionSpec = {
  path: { type: 'string' },
  'fold-case': { type: 'boolean', default: false },
  keys: { type: ['plain', 'sublevel'], default: 'plain' },
  read: { type: ['async', 'sync'], default: 'async' },
  ...MAP_REPLY_OPTIONS,
  ...ALLOW_MISSING_OPTION,
};

/**
 * abstract-level accepts sublevel names of printable ASCII above `"`, so `!` (its separator) cannot occur.
 * Other names cannot have been written by smapd-makemap, so they simply miss.
 */
function isSublevelName(map: string): boolean {
  if (map === '') return false;
  for (let i = 0; i < map.length; i++) {
    const c = map.charCodeAt(i);
    if (c <= 34 || c >= 127) return false;
  }
  return true;
}

/** The state of one `level` database. */
export interface LevelDbState {
  readonly location: string;
  readonly foldCase: boolean;
  readonly keys: KeyMode;
  /**
   * `sync` reads with `getSync` on the event loop: no thread-pool trip and no promise, about three times
   * less CPU per lookup, but a read that must go to disk holds up every connection while it waits.
   */
  readonly syncReads: boolean;
  readonly replies: MapReplies;
  db: LevelDb | null;
}

function initDb(args: readonly string[], ctx: DatabaseContext): LevelDbState {
  const parsed = ctx.parseOptions([...ctx.moduleArgs, ...args], OPTIONS, { allowPositional: true });
  if (parsed.positional.length > 0) {
    const word = parsed.positional[0]!;
    throw new ModuleArgumentError(`unexpected argument '${word}'${word.includes('=') ? '' : ` (did you mean path=${word}?)`}`);
  }
  const v = parsed.values;
  const dir = v['path'];
  if (typeof dir !== 'string' || dir === '') {
    throw new ModuleArgumentError('missing path=DIR: the LevelDB directory to serve');
  }
  const replies = compileMapReplies(parsed, ctx);
  const location = path.resolve(ctx.configDir, dir);
  checkPresent(location, 'LevelDB directory', v['allow-missing'] === true, ctx);
  return {
    location,
    foldCase: v['fold-case'] === true,
    keys: v['keys'] as KeyMode,
    syncReads: (v['read'] as ReadMode) === 'sync',
    replies,
    db: null,
  };
}

async function openDb(state: LevelDbState): Promise<void> {
  if (state.db !== null) return;
  state.db = await acquireLevel(state.location);
}

/**
 * The stored key for a lookup. A sublevel `NAME` stores its keys as `!NAME!key` in the root database
 * (abstract-level's documented sublevel encoding); building that string here, rather than keeping a
 * sublevel object per map name, means a client cannot make smapd hold one object per name it invents.
 */
function storedKey(state: LevelDbState, map: string, key: string): string | null {
  if (state.keys === 'plain') return key;
  return isSublevelName(map) ? `!${map}!${key}` : null;
}

/**
 * Keys and values that are not UTF-8 are stored as their bytes (smapd-makemap does so; see bytes.ts in
 * src/protocol): such a key is looked up by its bytes, and a value that does not read as UTF-8 (it then shows
 * U+FFFD) is read again as bytes, so it comes back exact. Plain UTF-8 keys and values cost nothing more.
 */
const BYTE_KEY = { keyEncoding: 'buffer' } as const;
const BYTE_VALUE = { valueEncoding: 'buffer' } as const;
const BYTE_KEY_VALUE = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

type StoredKey = string | Buffer;

function lookupKey(stored: string): StoredKey {
  return hasRawBytes(stored) ? keyBytes(stored) : stored;
}

function getSync(db: LevelDb, k: StoredKey): string | undefined {
  const value = typeof k === 'string' ? db.getSync(k) : db.getSync<Buffer, string>(k, BYTE_KEY);
  if (value === undefined || value.indexOf('\ufffd') < 0) return value;
  const bytes = typeof k === 'string' ? db.getSync<string, Buffer>(k, BYTE_VALUE) : db.getSync<Buffer, Buffer>(k, BYTE_KEY_VALUE);
  return bytes === undefined ? undefined : bytesToText(bytes);
}

async function get(db: LevelDb, k: StoredKey): Promise<string | undefined> {
  const value = typeof k === 'string' ? await db.get(k) : await db.get<Buffer, string>(k, BYTE_KEY);
  if (value === undefined || value.indexOf('\ufffd') < 0) return value;
  const bytes = typeof k === 'string' ? await db.get<string, Buffer>(k, BYTE_VALUE) : await db.get<Buffer, Buffer>(k, BYTE_KEY_VALUE);
  return bytes === undefined ? undefined : bytesToText(bytes);
}

function readFailed(state: LevelDbState, err: unknown): BackendError {
  return new BackendError(`LevelDB ${state.location}: ${describeLevelError(err)}`, { cause: err });
}

/** The reply for what the read found; classic-level 3 answers undefined for a missing key. */
function answer(state: LevelDbState, map: string, key: string, wanted: string, value: string | undefined): Reply {
  if (value === undefined) return state.replies.negative(map, key);
  return state.replies.positive({ map, key, value, matched: wanted });
}

function query(state: LevelDbState, map: string, key: string): Reply | Promise<Reply> {
  const db = state.db;
  if (db === null) throw new BackendError(`LevelDB ${state.location} is not open`);
  const wanted = state.foldCase ? foldCase(key) : key;
  const name = storedKey(state, map, wanted);
  if (name === null) return state.replies.negative(map, key);
  const stored = lookupKey(name);
  if (state.syncReads) {
    let value: string | undefined;
    try {
      value = getSync(db, stored);
    } catch (err) {
      throw readFailed(state, err);
    }
    return answer(state, map, key, wanted, value);
  }
  return get(db, stored).then(
    (value) => answer(state, map, key, wanted, value),
    (err: unknown) => {
      throw readFailed(state, err);
    },
  );
}

async function closeDb(state: LevelDbState): Promise<void> {
  if (state.db === null) return;
  state.db = null;
  await releaseLevel(state.location);
}

export default defineModule<LevelDbState>({
  apiVersion: MODULE_API_VERSION,
  capabilities: ['query'],
  answerDependsOn: mapAndKeyOnly,
  multiProcess: false,
  initDb,
  openDb,
  query,
  closeDb,
});
