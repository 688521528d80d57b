/**
 * When a lookup whose connection failed may be tried once more, the same for the SQL modules.
 */

/**
 * Whether a lookup is too late for its one retry: with less than a tenth of its timeout left (it waited
 * behind a query that timed out), sent on it would time out on the connection it lands on, and that
 * connection, doing fine, would be dropped with it. Such a lookup answers TIMEOUT now.
 */
export function tooLateToRetry(deadline: number, timeoutMs: number): boolean {
  return deadline - Date.now() < timeoutMs / 10;
}
