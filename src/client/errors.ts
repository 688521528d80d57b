/**
 * Errors of the sockmap client. They extend the daemon's SmapdError so that code catching either tests one
 * `code` field; they live here because only the client (and smapc) raises them.
 */
import { SmapdError } from '../errors.js';

/** The server URL cannot be parsed, or names something a client cannot connect to (port 0). */
export class InvalidServerUrlError extends SmapdError {
  readonly code = 'E_CLIENT_URL';
}

/** A client option or request argument is unusable (bad timeout, map name with a space, ...). */
export class InvalidClientArgumentError extends SmapdError {
  readonly code = 'E_CLIENT_ARGUMENT';
}

/** The connection could not be made (refused, no such socket, connect timeout, bad source address). */
export class ConnectError extends SmapdError {
  readonly code = 'E_CONNECT';
}

/** The connection is gone (closed by either side, reset, or abandoned after an error). */
export class ConnectionClosedError extends SmapdError {
  readonly code = 'E_CONNECTION_CLOSED';
}

/** No reply within the request timeout; the client closes the connection because the stream is out of step. */
export class ReplyTimeoutError extends SmapdError {
  readonly code = 'E_REPLY_TIMEOUT';
}

/** The server announced a reply longer than the client's limit; the connection is closed. */
export class ReplyTooLargeError extends SmapdError {
  readonly code = 'E_REPLY_TOO_LARGE';
}

/** The server sent something that is not a netstring, or a reply nobody asked for; the connection is closed. */
export class MalformedReplyError extends SmapdError {
  readonly code = 'E_BAD_REPLY';
}
