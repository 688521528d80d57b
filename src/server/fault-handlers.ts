/**
 * The process's last line of defence. An error that no code caught (a throw from a timer or a callback) or
 * a promise rejection that nobody handled is blamed on the module whose scope it ran in (src/modules/scope.ts):
 * that module's database is logged, reset and answers TEMP meanwhile, and the daemon goes on. An error in
 * smapd's own code leaves the daemon in an unknown state: it is logged and the process exits with
 * EX_SOFTWARE, as Node itself would (a supervisor or the primary restarts it).
 */
import type { Logger } from 'pino';
import { errorDetail, EX_SOFTWARE } from '../errors.js';
import { currentScope } from '../modules/scope.js';

let installed = false;

/** Install the handlers once per process; `exit` is for tests. */
export function installFaultHandlers(log: Logger, exit: (code: number) => void = (code) => process.exit(code)): void {
  if (installed) return;
  installed = true;
  const onFault = (err: unknown, origin: string): void => {
    const scope = currentScope();
    if (scope !== undefined) {
      scope.fault(err, origin);
      return;
    }
    log.fatal({ origin, err: errorDetail(err), stack: err instanceof Error ? err.stack : undefined }, 'uncaught error in smapd; exiting');
    log.flush?.();
    exit(EX_SOFTWARE);
  };
  process.on('uncaughtException', (err, origin) => onFault(err, origin));
  process.on('unhandledRejection', (reason) => onFault(reason, 'unhandledRejection'));
}
