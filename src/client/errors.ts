/** The client's errors, kept in the one error catalogue (src/errors.ts) and re-exported for its users. */
export {
  ConnectError,
  ConnectionClosedError,
  InvalidClientArgumentError,
  InvalidServerUrlError,
  MalformedReplyError,
  ReplyTimeoutError,
  ReplyTooLargeError,
} from '../errors.js';
