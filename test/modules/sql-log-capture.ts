/** A database context whose log lines the SQL fault tests can read back (messages at info and above). */
import { pino } from 'pino';
import type { DatabaseContext } from '../../src/modules/api.js';

export interface LogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function capturingContext(ctx: DatabaseContext): { ctx: DatabaseContext; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { ctx: { ...ctx, log }, lines };
}
