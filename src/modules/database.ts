/**
 * The core's view of a configured database: a module instance bound to its state, with lazy open, error
 * mapping (a throw becomes `TEMP`), a per-query timeout (`TIMEOUT`), and an optional result cache.
 * Dispatch talks only to this interface.
 */
import type { Reply } from '../protocol/reply.js';
import type { ConnInfo } from './api.js';

export interface DatabaseHandle {
  readonly id: string;
  readonly moduleId: string;
  readonly canQuery: boolean;
  readonly canTransform: boolean;
  /**
   * Answer a lookup: at once, or later through a thenable (a Deferred from the handle, which makes no promise;
   * a promise after an asynchronous transform). Never rejects: failures are `TEMP`/`TIMEOUT` replies.
   */
  query(map: string, key: string, conn: ConnInfo): Reply | PromiseLike<Reply>;
  /**
   * Rewrite a value. Returns the new value, or null for "unchanged". Never rejects: a failure is logged and
   * reads as null, so dispatch goes on with the value it had (as GNU Smap does).
   */
  transform(input: string, conn: ConnInfo): string | null | PromiseLike<string | null>;
}

/** Looks databases up by name. */
export type DatabaseLookup = (id: string) => DatabaseHandle | undefined;
