/** Process-wide counters for status and metrics: plain numbers, bumped on the hot path without allocation. */
import type { Reply } from '../protocol/reply.js';

export interface ServerStats {
  startedAt: number;
  connectionsTotal: number;
  connectionsOpen: number;
  connectionsRejected: number;
  /** Idle or stalled connections closed to make room for a new one when a limit was reached. */
  connectionsEvicted: number;
  /** Connections closed because a started request, or taking held-back replies, passed request-timeout. */
  requestTimeouts: number;
  /** Connections whose answering is stopped now because their unsent replies reached max-reply-buffer. */
  connectionsStalled: number;
  requests: number;
  protocolErrors: number;
  oversizeReplies: number;
  replies: { OK: number; NOTFOUND: number; NOMORE: number; TEMP: number; TIMEOUT: number; PERM: number; other: number };
}

export function createStats(): ServerStats {
  return {
    startedAt: Date.now(),
    connectionsTotal: 0,
    connectionsOpen: 0,
    connectionsRejected: 0,
    connectionsEvicted: 0,
    requestTimeouts: 0,
    connectionsStalled: 0,
    requests: 0,
    protocolErrors: 0,
    oversizeReplies: 0,
    replies: { OK: 0, NOTFOUND: 0, NOMORE: 0, TEMP: 0, TIMEOUT: 0, PERM: 0, other: 0 },
  };
}

/** Count a reply by its status word, telling the words apart by one or two characters. */
export function countReply(stats: ServerStats, r: Reply): void {
  const rs = stats.replies;
  switch (r.charCodeAt(0)) {
    case 0x4f: // O
      rs.OK++;
      return;
    case 0x4e: // N: NOTFOUND / NOMORE
      if (r.charCodeAt(2) === 0x54) rs.NOTFOUND++;
      else rs.NOMORE++;
      return;
    case 0x54: // T: TEMP / TIMEOUT
      if (r.charCodeAt(1) === 0x45) rs.TEMP++;
      else rs.TIMEOUT++;
      return;
    case 0x50: // P
      rs.PERM++;
      return;
    default:
      rs.other++;
  }
}
