/**
 * An example smapd module, complete and tested (test/docs/example-module.test.ts): answers lookups from a
 * JSON file that holds one object per map name:
 *
 *   { "aliases": { "postmaster": "root@example.com" }, "transport": { "example.com": "smtp:[mx.example.com]" } }
 *
 * Config:
 *   module json /etc/smapd/modules/json-map.js
 *   database routes json file=/etc/smapd/routes.json fold-case
 *   dispatch map eq aliases database routes
 *
 * Build it with `tsc` (or write it in JavaScript directly): smapd imports `.js` files.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
// Types only: at run time the module needs nothing from smapd but what arrives in `ctx`.
import type { DatabaseContext, Reply, SmapModule } from 'smapd/module';

interface JsonMapDb {
  readonly file: string;
  readonly foldCase: boolean;
  readonly ctx: DatabaseContext;
  /** map name → (key → value); replaced whole on open. */
  maps: Map<string, Map<string, string>>;
}

const jsonMap: SmapModule<JsonMapDb> = {
  apiVersion: 1,
  capabilities: ['query'],
  // The answer depends on map and key only, so a `cache` may share it between clients.
  answerDependsOn: () => [],

  // Parse and check the arguments only: `smapd -t` runs this, so no file is read here.
  initDb(args, ctx) {
    const { values } = ctx.parseOptions(args, {
      file: { type: 'string' },
      'fold-case': { type: 'boolean', default: false },
    });
    if (typeof values.file !== 'string' || values.file === '') {
      throw new Error('file=PATH is required');
    }
    return {
      file: path.resolve(ctx.configDir, values.file),
      foldCase: values['fold-case'] === true,
      ctx,
      maps: new Map(),
    };
  },

  // Called on first use; a throw here makes smapd answer `TEMP …` and try again later.
  async openDb(db) {
    const data: unknown = JSON.parse(await readFile(db.file, 'utf8'));
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new Error(`${db.file}: expected an object of maps`);
    }
    const maps = new Map<string, Map<string, string>>();
    for (const [name, entries] of Object.entries(data as Record<string, unknown>)) {
      if (typeof entries !== 'object' || entries === null) throw new Error(`${db.file}: map '${name}' is not an object`);
      const m = new Map<string, string>();
      for (const [k, v] of Object.entries(entries as Record<string, unknown>)) {
        m.set(db.foldCase ? k.toLowerCase() : k, String(v));
      }
      maps.set(name, m);
    }
    db.maps = maps;
    db.ctx.log.info({ file: db.file, maps: maps.size }, 'json map loaded');
  },

  // Synchronous answers are the fastest: no promise per lookup.
  query(db, map, key): Reply {
    const value = db.maps.get(map)?.get(db.foldCase ? key.toLowerCase() : key);
    return value === undefined ? db.ctx.reply.notFound() : db.ctx.reply.ok(value);
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
};

export default jsonMap;
