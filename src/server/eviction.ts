/**
 * Which connection to close when a connection limit is reached and `when-full evict` (the default) lets a
 * new client in: an idle or stalled one (nothing of it at a backend), from the client address that holds the
 * most connections within the limit's scope, the one that least recently completed a request. So a flood of
 * connections from one address that trickle requests, or sit idle, makes room for other addresses instead
 * of locking them out, and a busy client's working connections are never taken from it.
 */

/** What the choice needs to know of a connection. */
export interface Seat {
  /** The client address ('' for a unix-socket client). */
  readonly address: string;
  /** Nothing of it is at a backend: idle, or its client is stalling. */
  readonly evictable: boolean;
  /** When it last completed a request (or was accepted), ms. */
  readonly lastProgress: number;
}

/** The connection to close among `seats`, or undefined when none may be closed. */
export function chooseVictim<T extends Seat>(seats: Iterable<T>): T | undefined {
  const held = new Map<string, number>();
  const oldest = new Map<string, T>();
  for (const s of seats) {
    held.set(s.address, (held.get(s.address) ?? 0) + 1);
    if (!s.evictable) continue;
    const o = oldest.get(s.address);
    if (o === undefined || s.lastProgress < o.lastProgress) oldest.set(s.address, s);
  }
  let victim: T | undefined;
  let most = 0;
  for (const [address, s] of oldest) {
    const n = held.get(address)!;
    if (n > most || (n === most && victim !== undefined && s.lastProgress < victim.lastProgress)) {
      victim = s;
      most = n;
    }
  }
  return victim;
}
