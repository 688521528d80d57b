/** A real module/database context for calling a module directly in unit tests. */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BackendError } from '../../src/errors.js';
import type { ConnInfo, DatabaseContext, ModuleContext, Reply, SmapModule } from '../../src/modules/api.js';
import { parseOptions } from '../../src/modules/options.js';
import { compileTemplate } from '../../src/modules/template.js';
import { compileReplyTemplate } from '../../src/modules/reply-template.js';
import { replies } from '../../src/protocol/reply.js';
import { DEFAULT_QUERY_TIMEOUT_MS } from '../../src/modules/handle.js';

export const silentLogger = pino({ level: 'silent' });

export function moduleContext(moduleId = 'test', configDir = process.cwd()): ModuleContext {
  return {
    moduleId,
    log: silentLogger,
    reply: replies,
    parseOptions,
    compileTemplate,
    compileReply: (text, allowed, what) => compileReplyTemplate({ reply: replies, compileTemplate }, text, allowed, what),
    configDir,
  };
}

export function databaseContext(
  dbId = 'testdb',
  moduleArgs: readonly string[] = [],
  moduleId = 'test',
  configDir = process.cwd(),
  queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): DatabaseContext {
  return { ...moduleContext(moduleId, configDir), dbId, moduleArgs, dataChanged: () => undefined, queryTimeoutMs };
}

/**
 * `initDb` then `openDb` of `mod`, the database noted in `opened` before the open, so that the test's after-hook
 * closes it (closeDb) even when the open fails half way.
 */
export async function openDatabase<Db>(mod: SmapModule<Db>, args: readonly string[], ctx: DatabaseContext, opened: Db[]): Promise<Db> {
  const db = await mod.initDb(args, ctx);
  opened.push(db);
  await mod.openDb?.(db);
  return db;
}

/** `initDb` then `openDb` of `mod` (noted in `opened`), the open failing with a BackendError whose message matches `why`. */
export async function openDatabaseFails<Db>(mod: SmapModule<Db>, args: readonly string[], ctx: DatabaseContext, opened: Db[], why: RegExp): Promise<void> {
  const db = await mod.initDb(args, ctx);
  opened.push(db);
  await assert.rejects(Promise.resolve(mod.openDb!(db)), (e: unknown) => e instanceof BackendError && why.test(e.message));
}

/** One lookup straight through the module's `query`, as a promise whether it answers at once or later. */
export function lookUp<Db>(mod: SmapModule<Db>, db: Db, map: string, key: string, conn: ConnInfo): Promise<Reply> {
  return Promise.resolve(mod.query!(db, map, key, conn));
}
