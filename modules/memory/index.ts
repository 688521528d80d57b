/**
 * The `memory` module: a table that the administrator fills at run time over the control socket, answering
 * lookups from memory without any backend.
 *
 *   module memory memory
 *   database blocked memory capacity=10000 snapshot=blocked.snap fold-case
 *   database routes memory capacity=500 positive-reply='OK smtp:[${value}]' nomore
 *
 *   smapc --control db blocked bind spammer@example.com REJECT go away
 *
 * The table lives in one process: with `workers N` every worker would hold a different table, so the module
 * is single-process and smapd refuses `workers` above 1 with it.
 */
import path from 'node:path';
import {
  defineModule,
  defineReplyOptions,
  mapAndKeyOnly,
  ModuleArgumentError,
  type DatabaseContext,
  type OptionSpec,
  type Reply,
} from '../../src/modules/api.js';
import { commands } from './commands.js';
import { MemoryDb } from './db.js';

const REPLIES = defineReplyOptions({
  positive: { default: 'OK ${value}', variables: ['map', 'key', 'value'] },
  negative: { variables: ['map', 'key'] },
  nomore: true,
});

const OPTIONS: OptionSpec = {
  capacity: { type: 'number' },
  snapshot: { type: 'string' },
  'fold-case': { type: 'boolean', default: false },
  ...REPLIES.options,
};

/** Module-level words are defaults for every database; a snapshot file there would be shared by all of them. */
function checkModuleArgs(args: readonly string[], parse: DatabaseContext['parseOptions']): void {
  const { given } = parse(args, OPTIONS, { context: 'module arguments' });
  if (given.has('snapshot')) {
    throw new ModuleArgumentError('snapshot= belongs on each database statement: every database needs a file of its own');
  }
}

function initDb(args: readonly string[], ctx: DatabaseContext): MemoryDb {
  checkModuleArgs(ctx.moduleArgs, ctx.parseOptions);
  const parsed = ctx.parseOptions([...ctx.moduleArgs, ...args], OPTIONS);
  const { values } = parsed;

  const capacity = values['capacity'];
  if (capacity === undefined) {
    throw new ModuleArgumentError(
      `capacity= is required: the most bindings the table may hold (for example: database ${ctx.dbId} memory capacity=10000)`,
    );
  }
  if (typeof capacity !== 'number' || !Number.isSafeInteger(capacity) || capacity <= 0) {
    throw new ModuleArgumentError(`capacity must be a whole number above 0, not '${String(capacity)}'`);
  }

  const snapshotText = values['snapshot'];
  if (snapshotText === '') throw new ModuleArgumentError('snapshot= needs a file name');

  const { positive, negative } = REPLIES.compile(parsed, ctx);

  return new MemoryDb({
    id: ctx.dbId,
    capacity,
    foldCase: values['fold-case'] === true,
    snapshot: snapshotText === undefined ? undefined : path.resolve(ctx.configDir, String(snapshotText)),
    positive,
    negative,
    log: ctx.log,
  });
}

function query(db: MemoryDb, map: string, key: string): Reply {
  const value = db.table.getNormalized(db.table.normalize(key));
  if (value === undefined) {
    return db.negative.constant ?? db.negative.render((n) => (n === 'key' ? key : n === 'map' ? map : undefined));
  }
  return db.positive.render((n) => (n === 'value' ? value : n === 'key' ? key : n === 'map' ? map : undefined));
}

export default defineModule<MemoryDb>({
  apiVersion: 1,
  capabilities: ['query'],
  answerDependsOn: mapAndKeyOnly,
  multiProcess: false,
  init(args, ctx) {
    checkModuleArgs(args, ctx.parseOptions);
  },
  initDb,
  openDb: (db) => db.open(),
  query,
  commands,
  closeDb: (db) => db.close(),
});
