/**
 * How replies reach their caller: the handlers that are told them (`SmapClient.send`; `query` makes one from
 * its promise).
 */

/**
 * Who is told the answer to a request made with `send`: exactly one of the two is called, once, and never
 * from within `send` itself. A throw from either is not the connection's business: it is thrown again from a
 * microtask (an uncaught error), and the connection goes on.
 */
export interface ReplyHandler {
  /** The reply payload, e.g. `OK value` or `NOTFOUND `. */
  resolve(reply: string): void;
  /** ReplyTimeoutError, ConnectionClosedError, MalformedReplyError or ReplyTooLargeError. */
  reject(err: Error): void;
}

/** Throw `err` again from a microtask: an uncaught error, away from the code that was calling out. */
export function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

export function tell(handler: ReplyHandler, reply: string): void {
  try {
    handler.resolve(reply);
  } catch (err) {
    rethrowLater(err);
  }
}

export function tellError(handler: ReplyHandler, err: Error): void {
  try {
    handler.reject(err);
  } catch (e) {
    rethrowLater(e);
  }
}
