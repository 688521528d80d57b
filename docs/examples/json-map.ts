/**
 * An example smapd module, complete and tested: answers lookups from a JSON file that holds one object per
 * map name:
 *
 *   { "aliases": { "postmaster": "root@example.com" }, "transport": { "example.com": "smtp:[mx.example.com]" } }
 *
 * Config:
 *   module json /etc/smapd/modules/json-map.js
 *   database routes json file=/etc/smapd/routes.json fold-case
 *   database relays json file=/etc/smapd/relays.json positive-reply='OK relay ${value}' nomore
 *   dispatch map eq aliases database routes
 *
 * It imports nothing of smapd but `smapd/module`, as every built-in module does. Build it with `tsc` against
 * the installed package (`npm install --save-dev smapd`; see docs/modules.md) and copy the `.js` anywhere:
 * smapd resolves `smapd/module` for the modules it loads. The tests build it exactly that way
 * (test/package/pack.test.ts) and load it from the repository too (test/docs/example-module.test.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BackendError,
  defineModule,
  defineReplyOptions,
  mapAndKeyOnly,
  MODULE_API_VERSION,
  ModuleArgumentError,
  type DatabaseContext,
  type OptionSpec,
  type Reply,
  type ReplyOptionTemplates,
} from 'smapd/module';

// positive-reply=, negative-reply= and nomore, spelled and checked as every built-in module does.
const REPLIES = defineReplyOptions({
  positive: { default: 'OK ${value}', variables: ['map', 'key', 'value'] },
  negative: { variables: ['map', 'key'] },
  nomore: true,
});

const OPTIONS: OptionSpec = {
  file: { type: 'string' },
  'fold-case': { type: 'boolean', default: false },
  ...REPLIES.options,
};

interface JsonMapDb {
  readonly file: string;
  readonly foldCase: boolean;
  readonly replies: ReplyOptionTemplates;
  readonly ctx: DatabaseContext;
  /** map name → (key → value); replaced whole on open. */
  maps: Map<string, Map<string, string>>;
}

export default defineModule<JsonMapDb>({
  apiVersion: MODULE_API_VERSION,
  capabilities: ['query'],
  // The answer depends on map and key only, so a `cache` may share it between clients.
  answerDependsOn: mapAndKeyOnly,

  // Parse and check the arguments only: `smapd -t` runs this, so no file is read here. A
  // ModuleArgumentError is a config error with the file and line of the `database` statement.
  initDb(args, ctx) {
    const parsed = ctx.parseOptions([...ctx.moduleArgs, ...args], OPTIONS);
    const file = parsed.values['file'];
    if (typeof file !== 'string' || file === '') throw new ModuleArgumentError('file=PATH is required');
    return {
      file: path.resolve(ctx.configDir, file),
      foldCase: parsed.values['fold-case'] === true,
      replies: REPLIES.compile(parsed, ctx),
      ctx,
      maps: new Map(),
    };
  },

  // Called on first use; a throw here makes smapd answer `TEMP …` and try again later.
  async openDb(db) {
    let data: unknown;
    try {
      data = JSON.parse(await readFile(db.file, 'utf8'));
    } catch (err) {
      throw new BackendError(`cannot read ${db.file}: ${(err as Error).message}`, { cause: err });
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new BackendError(`${db.file}: expected an object of maps`);
    }
    const maps = new Map<string, Map<string, string>>();
    for (const [name, entries] of Object.entries(data as Record<string, unknown>)) {
      if (typeof entries !== 'object' || entries === null) throw new BackendError(`${db.file}: map '${name}' is not an object`);
      const m = new Map<string, string>();
      for (const [k, v] of Object.entries(entries as Record<string, unknown>)) {
        m.set(db.foldCase ? k.toLowerCase() : k, String(v));
      }
      maps.set(name, m);
    }
    db.maps = maps;
    db.ctx.log.info({ file: db.file, maps: maps.size }, 'json map loaded');
  },

  // Synchronous answers are the fastest: no promise per lookup. A constant reply is made once, at initDb.
  query(db, map, key): Reply {
    const value = db.maps.get(map)?.get(db.foldCase ? key.toLowerCase() : key);
    const vars = (name: string): string | undefined => (name === 'map' ? map : name === 'key' ? key : name === 'value' ? value : undefined);
    if (value === undefined) return db.replies.negative.constant ?? db.replies.negative.render(vars);
    return db.replies.positive.render(vars);
  },

  // `smapc --control db routes count` shows how many keys each map holds.
  commands: {
    count: {
      help: 'count — keys per map',
      run: (db) => [...db.maps].map(([name, m]) => `${name} ${m.size}`).join('\n'),
    },
  },

  closeDb(db) {
    db.maps = new Map();
  },
});
