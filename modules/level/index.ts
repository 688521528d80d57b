/**
 * The `level` module: lookups in a LevelDB directory (built with `smapd-makemap --type level`), for maps too
 * big to hold in memory or that should load instantly. smapd only reads it. LevelDB locks its directory
 * against other processes, hence `multiProcess: false`.
 *
 *   database aliases level path=/var/lib/smapd/aliases.ldb fold-case
 *   database maps    level path=/var/lib/smapd/maps.ldb keys=sublevel   # one sublevel per map name
 */
import path from 'node:path';
import { defineModule, MODULE_API_VERSION, ModuleArgumentError, BackendError } from '../../src/modules/api.js';
import type { DatabaseContext, OptionSpec, Reply } from '../../src/modules/api.js';
import { compileMapReplies, MAP_REPLY_OPTIONS, type MapReplies } from '../../src/maps/map-replies.js';
import { acquireLevel, describeLevelError, releaseLevel, type LevelDb } from './shared.js';

type KeyMode = 'plain' | 'sublevel';

const OPTIONS: OptionSpec = {
  path: { type: 'string' },
  'fold-case': { type: 'boolean', default: false },
  keys: { type: ['plain', 'sublevel'], default: 'plain' },
  ...MAP_REPLY_OPTIONS,
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
  return {
    location: path.resolve(ctx.configDir, dir),
    foldCase: v['fold-case'] === true,
    keys: v['keys'] as KeyMode,
    replies: compileMapReplies(v, ctx),
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

async function query(state: LevelDbState, map: string, key: string): Promise<Reply> {
  const db = state.db;
  if (db === null) throw new BackendError(`LevelDB ${state.location} is not open`);
  const wanted = state.foldCase ? key.toLowerCase() : key;
  const stored = storedKey(state, map, wanted);
  if (stored === null) return state.replies.negative(map, key);
  let value: string | undefined;
  try {
    // classic-level 3 answers undefined for a missing key (no NotFound error any more).
    value = await db.get(stored);
  } catch (err) {
    throw new BackendError(`LevelDB ${state.location}: ${describeLevelError(err)}`, { cause: err });
  }
  if (value === undefined) return state.replies.negative(map, key);
  return state.replies.positive({ map, key, value, matched: wanted });
}

async function closeDb(state: LevelDbState): Promise<void> {
  if (state.db === null) return;
  state.db = null;
  await releaseLevel(state.location);
}

export default defineModule<LevelDbState>({
  apiVersion: MODULE_API_VERSION,
  capabilities: ['query'],
  multiProcess: false,
  initDb,
  openDb,
  query,
  closeDb,
});
