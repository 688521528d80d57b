/** A real pino logger whose JSON lines land in an array, for tests that check what smapd logs. */
import { Writable } from 'node:stream';
import { pino } from 'pino';

export function capture(level = 'info'): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: pino({ level }, sink), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
