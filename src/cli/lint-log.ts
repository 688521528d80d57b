/**
 * The logger of `smapd -t`: what modules warn about while a config is loaded (a map file that `allow-missing`
 * lets be absent, a query that binds nothing) is printed on stderr as `smapd: warning: database NAME: …`, in the
 * same form as the check's other warnings, instead of being lost in a log nobody reads at that point.
 */
import { pino, type Logger } from 'pino';

interface Entry {
  readonly level?: number;
  readonly msg?: string;
  readonly db?: string;
  readonly module?: string;
}

export function lintLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const sink = {
    write(json: string): void {
      let e: Entry;
      try {
        e = JSON.parse(json) as Entry;
      } catch {
        return;
      }
      const what = e.db !== undefined ? `database ${e.db}: ` : e.module !== undefined ? `module ${e.module}: ` : '';
      const level = (e.level ?? 40) >= 50 ? 'error' : 'warning';
      write(`smapd: ${level}: ${what}${e.msg ?? ''}\n`);
    },
  };
  return pino({ level: 'warn', base: null, timestamp: false }, sink);
}
