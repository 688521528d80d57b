/**
 * The reply side of one SQL lookup, the same for every SQL module: the positive reply from the row, the
 * negative one when there is none, and on failure the timeout or onerror reply, with a log line (at most one
 * per interval per database: an outage fails every lookup).
 */
import { BackendTimeoutError, RateLimitedWarning, RATE_LOG_INTERVAL_MS, type DatabaseContext, type Reply } from '../../src/modules/api.js';
import type { RequestValues } from './query.js';
import { errorText, renderError, renderNotFound, renderRow, type ResultRow, type SqlReplies } from './replies.js';

/** What answering needs from a SQL database. */
export interface AnsweringDb {
  readonly ctx: DatabaseContext;
  readonly replies: SqlReplies;
  readonly failures: FailureLogs;
}

/** A database's failed and timed-out lookups, each logged at once, then summed up in one line per interval. */
export interface FailureLogs {
  readonly failed: RateLimitedWarning;
  readonly timedOut: RateLimitedWarning;
}

/** The failure logs of one SQL database (`backend` names the module in the lines). */
export function failureLogs(ctx: DatabaseContext, backend: string): FailureLogs {
  return {
    failed: new RateLimitedWarning(ctx.log, `${backend} lookup failed`, RATE_LOG_INTERVAL_MS, 'error'),
    timedOut: new RateLimitedWarning(ctx.log, `${backend} lookup timed out`, RATE_LOG_INTERVAL_MS, 'error'),
  };
}

/** Log what is still counted (the database is closing). */
export function closeFailureLogs(logs: FailureLogs): void {
  logs.failed.close();
  logs.timedOut.close();
}

/**
 * Answer `req` from `lookup`. `cannotBeThere`, when given, picks the
 * errors that only mean the key cannot be stored (answered as not found, not as a failure).
 */
export async function answer(
  db: AnsweringDb,
  req: RequestValues,
  lookup: () => Promise<ResultRow | null>,
  cannotBeThere?: (err: unknown) => boolean,
): Promise<Reply> {
  try {
    const row = await lookup();
    return row === null ? renderNotFound(db.replies.negative, req) : renderRow(db.replies.positive, row, req);
  } catch (err) {
    if (cannotBeThere?.(err) === true) return renderNotFound(db.replies.negative, req);
    const timedOut = err instanceof BackendTimeoutError;
    (timedOut ? db.failures.timedOut : db.failures.failed).note({ db: db.ctx.dbId, err: errorText(err) });
    return renderError(timedOut ? db.replies.timeout : db.replies.onerror, req, err);
  }
}
