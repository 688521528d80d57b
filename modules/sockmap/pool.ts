/**
 * The connections to one upstream socketmap server: a fixed number of persistent connections, each carrying
 * pipelined requests (the protocol answers in order, so one connection serves many lookups at once), taken
 * in turn: the lookups of one event-loop turn (up to TURN_BATCH) on one connection, the next turn's on the
 * next. A connection that breaks is replaced on the next request; while the upstream refuses connections,
 * lookups fail at once instead of each waiting for its own connect attempt.
 */
import type { Logger } from 'pino';
import { BackendError, ConnectionClosedError, SmapClient, type ReplyHandler } from '../../src/modules/api.js';

/** Lookups of one event-loop turn that go to one connection before the next connection is taken. */
export const TURN_BATCH = 32;

/** After a failed connect, how long lookups fail at once before the next attempt. */
export const RECONNECT_BACKOFF_MS = 500;

export interface UpstreamOptions {
  /** `inet://HOST:PORT`, `inet6://[ADDR]:PORT` or `unix:///PATH`. */
  readonly url: string;
  /** Connect timeout and per-request reply timeout. */
  readonly timeoutMs: number;
  /** Persistent connections kept to the upstream. */
  readonly connections: number;
  readonly log: Logger;
}

interface Slot {
  client: SmapClient | null;
  connecting: Promise<SmapClient> | null;
}

/**
 * One lookup on its way to the upstream: it passes the reply on, and asks once more, on a new connection,
 * when the connection it was sent on closed before answering (see Upstream.send).
 */
class Ask implements ReplyHandler {
  private retried = false;

  constructor(
    private readonly upstream: Upstream,
    readonly map: string,
    readonly key: string,
    private readonly to: ReplyHandler,
  ) {}

  resolve(reply: string): void {
    this.to.resolve(reply);
  }

  reject(err: Error): void {
    if (this.retried || !(err instanceof ConnectionClosedError) || this.upstream.isClosed) {
      this.to.reject(err);
      return;
    }
    this.retried = true;
    try {
      this.upstream.dispatch(this);
    } catch (e) {
      this.to.reject(e as Error);
    }
  }
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message.replace(/\s+/g, ' ').trim() : String(err);
  return msg === '' ? 'unknown error' : msg;
}

export class Upstream {
  private readonly slots: Slot[];
  private next = 0;
  /** Lookups given to the connection in turn in this event-loop turn; 0: none yet (see acquire()). */
  private takenThisTurn = 0;
  private readonly endTurn = (): void => {
    this.takenThisTurn = 0;
    this.advance();
  };
  private closed = false;
  /** Until when connect attempts are not made (Date.now() value), and why. */
  private downUntil = 0;
  private downReason = '';
  /** True while the upstream is known to be unreachable, so that going down and coming back log once each. */
  private down = false;

  constructor(private readonly opts: UpstreamOptions) {
    this.slots = Array.from({ length: opts.connections }, () => ({ client: null, connecting: null }));
  }

  /** Make the first connection, so that an upstream that is down at start is reported then. */
  async connectFirst(): Promise<void> {
    const slot = this.slots[0]!;
    if (slot.client === null) await (slot.connecting ?? this.connect(slot));
  }

  /**
   * Ask the upstream; `handler` hears its reply payload, later. Throws at once when no connection is to be had
   * (BackendError: the upstream is down or the connections are closed) or the map name cannot be sent
   * (InvalidClientArgumentError). A request that meets a connection the upstream has just closed (an idle
   * timeout on its side, a restart) is asked once more on a new connection: lookups only read, so asking
   * twice is safe. Otherwise `handler.reject` hears ReplyTimeoutError, ConnectError, BackendError,
   * ConnectionClosedError or the client's reply errors. No promise is made while a connection stands.
   */
  send(map: string, key: string, handler: ReplyHandler): void {
    this.dispatch(new Ask(this, map, key, handler));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send on the connection in turn (once it is made); throws when there is none to be had. For `send` and Ask. */
  dispatch(ask: Ask): void {
    const c = this.acquire();
    if (c instanceof SmapClient) {
      c.send(ask.map, ask.key, ask);
      return;
    }
    // Only while a connection is being made: the lookup waits for it.
    c.then(
      (client) => {
        try {
          client.send(ask.map, ask.key, ask);
        } catch (err) {
          ask.reject(err as Error);
        }
      },
      (err: unknown) => ask.reject(err as Error),
    );
  }

  /** Close every connection once its pending requests are answered. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const c = s.client ?? (await s.connecting?.catch(() => null)) ?? null;
        s.client = null;
        await c?.close();
      }),
    );
  }

  private acquire(): SmapClient | Promise<SmapClient> {
    if (this.closed) throw new BackendError(`the connections to ${this.opts.url} are closed`);
    // All the lookups of one event-loop turn go to the same connection, so that they leave in one write and
    // their replies come back in one read; the next turn takes the next connection. (Taking connections in
    // turn per lookup spread every batch over all of them: a write and a read per connection per turn.)
    // A burst larger than TURN_BATCH still spreads, so that one slow answer holds up fewer lookups behind it.
    if (this.takenThisTurn === 0) setImmediate(this.endTurn);
    else if (this.takenThisTurn % TURN_BATCH === 0) this.advance();
    this.takenThisTurn++;
    const slot = this.slots[this.next]!;
    // A connection can be over before its `closed` callback has run: ask the client itself.
    if (slot.client !== null && !slot.client.isOpen) slot.client = null;
    if (slot.client !== null) return slot.client;
    if (slot.connecting !== null) return slot.connecting;
    if (Date.now() >= this.downUntil) return this.connect(slot);
    // The upstream refused a connection a moment ago: a connection that still stands may still answer.
    for (const s of this.slots) if (s.client?.isOpen === true) return s.client;
    throw new BackendError(`upstream ${this.opts.url} unavailable: ${this.downReason}`);
  }

  private advance(): void {
    this.next = this.next + 1 === this.slots.length ? 0 : this.next + 1;
  }

  private connect(slot: Slot): Promise<SmapClient> {
    const { url, timeoutMs, log } = this.opts;
    // Lookups arrive from many client connections in one event-loop turn: gather them into one write.
    const p = SmapClient.connect({ url, timeoutMs, coalesce: 'turn' }).then(
      (client) => {
        slot.connecting = null;
        if (this.closed) {
          void client.close();
          throw new BackendError(`the connections to ${url} are closed`);
        }
        slot.client = client;
        if (this.down) log.info({ upstream: url }, 'upstream socketmap server reachable again');
        this.down = false;
        void client.closed.then(() => {
          if (slot.client === client) slot.client = null;
          if (client.error !== undefined && !this.closed) {
            log.warn({ upstream: url, err: errorText(client.error) }, 'connection to the upstream socketmap server lost');
          }
        });
        return client;
      },
      (err: unknown) => {
        slot.connecting = null;
        this.downReason = errorText(err);
        this.downUntil = Date.now() + RECONNECT_BACKOFF_MS;
        if (!this.down) log.error({ upstream: url, err: this.downReason }, 'upstream socketmap server unreachable');
        this.down = true;
        throw new BackendError(`upstream ${url} unavailable: ${this.downReason}`, { cause: err });
      },
    );
    slot.connecting = p;
    return p;
  }
}
