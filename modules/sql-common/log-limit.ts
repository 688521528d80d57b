/**
 * Failed lookups during an outage come at the rate mail arrives: a line for each would flood the log with the
 * same reason. A database logs the first failure at once, then at most one line per interval, and that line
 * says how many failures it held back since the last one.
 */

/** At most one failed-lookup line per database in this long. */
export const FAILURE_LOG_INTERVAL_MS = 10_000;

export class LogLimiter {
  private last = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(private readonly intervalMs = FAILURE_LOG_INTERVAL_MS) {}

  /**
   * Whether a line may be written now. Undefined: no, the event is counted instead; a number: yes, and that
   * many events were held back since the last line.
   */
  take(now = Date.now()): number | undefined {
    if (now - this.last < this.intervalMs) {
      this.held++;
      return undefined;
    }
    const held = this.held;
    this.held = 0;
    this.last = now;
    return held;
  }
}
