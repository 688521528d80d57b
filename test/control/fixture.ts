/**
 * A small real control target for tests: real DatabaseHandleImpl objects around the memory module and a
 * tiny query module with a result cache, real ServerStats, and a stopping flag the test can set.
 */
import memory from '../../modules/memory/index.js';
import { smapdTarget, type ControlTarget } from '../../src/control/target.js';
import { defineModule, type ConnInfo } from '../../src/modules/api.js';
import { ResultCache } from '../../src/modules/cache.js';
import { DatabaseHandleImpl } from '../../src/modules/handle.js';
import { countReply, createStats, type ServerStats } from '../../src/server/stats.js';
import { databaseContext, silentLogger } from '../helpers/module-context.js';

export const conn: ConnInfo = { serverId: 'test', family: 'unix', src: '', srcPort: 0, dst: '/tmp/t', dstPort: 0 };

/** Answers `OK <KEY upper-cased>` for keys starting with `k`, NOTFOUND otherwise; counts backend calls. */
interface LookupDb {
  calls: number;
  reply: typeof import('../../src/protocol/reply.js').replies;
}

export const lookupModule = defineModule<LookupDb>({
  apiVersion: 1,
  capabilities: ['query'],
  initDb: (_args, ctx) => ({ calls: 0, reply: ctx.reply }),
  query(db, _map, key) {
    db.calls++;
    if (key === 'fail') throw new Error('backend exploded');
    return key.startsWith('k') ? db.reply.ok(key.toUpperCase()) : db.reply.notFound();
  },
});

export interface Fixture {
  readonly target: ControlTarget;
  readonly stats: ServerStats;
  readonly databases: Map<string, DatabaseHandleImpl>;
  readonly lookupState: LookupDb;
  stopping: boolean;
  /** A lookup as the daemon makes it: counted in the server stats too. */
  query(db: string, key: string, map?: string): Promise<string>;
  close(): Promise<void>;
}

export async function makeFixture(): Promise<Fixture> {
  const stats = createStats();
  const databases = new Map<string, DatabaseHandleImpl>();
  const memState = await memory.initDb(['capacity=5'], databaseContext('mem', [], 'memory'));
  databases.set('mem', new DatabaseHandleImpl('mem', 'memory', memory, memState, silentLogger, 0, undefined));
  const lookupState = await lookupModule.initDb([], databaseContext('lookup'));
  const cache = new ResultCache({ ttl: 60_000, negativeTtl: 60_000, size: 100, bytes: 1 << 20 });
  databases.set('lookup', new DatabaseHandleImpl('lookup', 'lk', lookupModule, lookupState, silentLogger, 0, cache));

  const fx: Fixture = {
    stats,
    databases,
    lookupState,
    stopping: false,
    target: smapdTarget({ stats, currentRuntime: { registry: { databases } } }, () => fx.stopping),
    async query(db, key, map = 'm') {
      stats.requests++;
      const r = await databases.get(db)!.query(map, key, conn);
      countReply(stats, r);
      return r;
    },
    async close() {
      for (const h of databases.values()) await h.close();
    },
  };
  return fx;
}
