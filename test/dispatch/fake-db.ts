/**
 * Test doubles at the DatabaseHandle boundary: databases whose answers the test decides, that record every
 * call so a test can check what dispatch asked and in which order.
 */
import type { SourceLocation } from '../../src/errors.js';
import type { Condition, RuleDecl } from '../../src/config/types.js';
import type { ConnInfo } from '../../src/modules/api.js';
import type { DatabaseHandle, DatabaseLookup } from '../../src/modules/database.js';
import { ok, type Reply } from '../../src/protocol/reply.js';

export type Call = { readonly db: string; readonly op: 'query' | 'transform'; readonly args: readonly string[] };

export class FakeDb implements DatabaseHandle {
  readonly moduleId = 'fake';
  constructor(
    readonly id: string,
    readonly calls: Call[],
    private readonly answer: {
      readonly query?: (map: string, key: string, conn: ConnInfo) => Reply | Promise<Reply>;
      readonly transform?: (input: string, conn: ConnInfo) => string | null | Promise<string | null>;
    },
  ) {}

  get canQuery(): boolean {
    return this.answer.query !== undefined;
  }

  get canTransform(): boolean {
    return this.answer.transform !== undefined;
  }

  query(map: string, key: string, conn: ConnInfo): Reply | Promise<Reply> {
    this.calls.push({ db: this.id, op: 'query', args: [map, key] });
    if (!this.answer.query) throw new Error(`${this.id} cannot query`);
    return this.answer.query(map, key, conn);
  }

  transform(input: string, conn: ConnInfo): string | null | Promise<string | null> {
    this.calls.push({ db: this.id, op: 'transform', args: [input] });
    if (!this.answer.transform) throw new Error(`${this.id} cannot transform`);
    return this.answer.transform(input, conn);
  }
}

/** A database that answers `OK <id> <map> <key>`, so a reply shows who answered and what it was asked. */
export function echoDb(id: string, calls: Call[]): FakeDb {
  return new FakeDb(id, calls, { query: (map, key) => ok(`${id} ${map} ${key}`) });
}

export function lookupOf(...dbs: DatabaseHandle[]): DatabaseLookup {
  const byId = new Map(dbs.map((d) => [d.id, d]));
  return (id) => byId.get(id);
}

let line = 0;
export function at(n?: number): SourceLocation {
  return { file: 'smapd.conf', line: n ?? ++line };
}

export function database(db: string, conditions: Condition[] = [], loc = at()): RuleDecl {
  return { conditions, action: { kind: 'database', db }, isDefault: false, loc };
}

export function defaultRule(db: string, loc = at()): RuleDecl {
  return { conditions: [], action: { kind: 'database', db }, isDefault: true, loc };
}

export function transform(target: 'map' | 'key', db: string, conditions: Condition[] = [], loc = at()): RuleDecl {
  return { conditions, action: { kind: 'transform', target, db }, isDefault: false, loc };
}

export const cond = {
  map: (op: 'eq' | 'like' | 'regexp', pattern: string, loc = at()): Condition => ({ kind: 'map', op, pattern, loc }),
  key: (op: 'eq' | 'like' | 'regexp', pattern: string, loc = at()): Condition => ({ kind: 'key', op, pattern, loc }),
  from: (spec: string, loc = at()): Condition => ({ kind: 'from', spec, loc }),
  server: (id: string, loc = at()): Condition => ({ kind: 'server', id, loc }),
  not: (inner: Condition, loc = at()): Condition => ({ kind: 'not', cond: inner, loc }),
};

export function inet(src: string, serverId = 'main'): ConnInfo {
  return { serverId, family: 'inet', src, srcPort: 40000, dst: '127.0.0.1', dstPort: 3145 };
}

export function inet6(src: string, serverId = 'main'): ConnInfo {
  return { serverId, family: 'inet6', src, srcPort: 40000, dst: '::1', dstPort: 3145 };
}

export function unix(path: string, serverId = 'local'): ConnInfo {
  return { serverId, family: 'unix', src: '', srcPort: 0, dst: path, dstPort: 0 };
}
