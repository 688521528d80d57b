/** A database context whose log lines the SQL fault tests can read back (messages at `level` and above, info unless told). */
import { pino } from 'pino';
import type { DatabaseContext } from '../../src/modules/api.js';

export interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function capturingContext(ctx: DatabaseContext, level = 'info'): { ctx: DatabaseContext; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { ctx: { ...ctx, log }, lines };
}
