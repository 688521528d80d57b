/**
 * A warning that may repeat thousands of times a second (refused connections under a flood) is logged at
 * most once per interval: the first at once, the rest counted and summed up in one line when the interval
 * ends. A flood then costs one log line per interval instead of one per connection.
 */
import type { Logger } from 'pino';

export const RATE_LOG_INTERVAL_MS = 10_000;

export class RateLimitedWarning {
  private suppressed = 0;
  private last: Record<string, unknown> = {};
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly msg: string,
    private readonly intervalMs = RATE_LOG_INTERVAL_MS,
    private readonly level: 'warn' | 'error' = 'warn',
  ) {}

  note(fields: Record<string, unknown>): void {
    if (this.timer === undefined) {
      this.log[this.level](fields, this.msg);
      this.open();
      return;
    }
    this.suppressed++;
    this.last = fields;
  }

  /** Log what is still counted (at stop), and end the interval. */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.summarise();
  }

  private open(): void {
    this.timer = setTimeout(this.onInterval, this.intervalMs);
    this.timer.unref();
  }

  private readonly onInterval = (): void => {
    this.timer = undefined;
    // A flood that goes on keeps the window open: one summary per interval, none once it is over.
    if (this.summarise()) this.open();
  };

  private summarise(): boolean {
    if (this.suppressed === 0) return false;
    const n = this.suppressed;
    this.suppressed = 0;
    this.log[this.level]({ ...this.last, repeated: n }, `${this.msg} (${n} more since the last such line)`);
    return true;
  }
}
