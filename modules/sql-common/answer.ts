/**
 * The reply side of one SQL lookup, the same for every SQL module: the positive reply from the row, the
 * negative one when there is none, and on failure the timeout or onerror reply, with a log line (at most one
 * per interval per database: an outage fails every lookup).
 */
import { BackendTimeoutError, type DatabaseContext, type Reply } from '../../src/modules/api.js';
import type { LogLimiter } from './log-limit.js';
import type { RequestValues } from './query.js';
import { errorText, renderError, renderNotFound, renderRow, type ResultRow, type SqlReplies } from './replies.js';

/** What answering needs from a SQL database. */
export interface AnsweringDb {
  readonly ctx: DatabaseContext;
  readonly replies: SqlReplies;
  readonly failures: LogLimiter;
}

/**
 * Answer `req` from `lookup`. `backend` names the module in log lines; `cannotBeThere`, when given, picks the
 * errors that only mean the key cannot be stored (answered as not found, not as a failure).
 */
export async function answer(
  db: AnsweringDb,
  req: RequestValues,
  backend: string,
  lookup: () => Promise<ResultRow | null>,
  cannotBeThere?: (err: unknown) => boolean,
): Promise<Reply> {
  try {
    const row = await lookup();
    return row === null ? renderNotFound(db.replies.negative, req) : renderRow(db.replies.positive, row, req);
  } catch (err) {
    if (cannotBeThere?.(err) === true) return renderNotFound(db.replies.negative, req);
    const timedOut = err instanceof BackendTimeoutError;
    const held = db.failures.take();
    if (held !== undefined) {
      db.ctx.log.error({ db: db.ctx.dbId, err: errorText(err), suppressed: held }, `${backend} lookup ${timedOut ? 'timed out' : 'failed'}`);
    }
    return renderError(timedOut ? db.replies.timeout : db.replies.onerror, req, err);
  }
}
