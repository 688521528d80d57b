/**
 * The ways smapd runs once its config is checked: one process; a primary with workers (`workers N`); a
 * worker; and inetd mode. Each wires signals: SIGTERM/SIGINT/SIGQUIT stop gracefully, SIGHUP reloads
 * (the new config goes through the start-up checks of config-check.ts; one that fails is logged with file and
 * line, and the running one stays).
 */
import { fstatSync } from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import { smapdTarget } from '../control/target.js';
import { ConfigErrors, EX_CONFIG, EX_UNAVAILABLE } from '../errors.js';
import type { ConnInfo } from '../modules/api.js';
import { VERSION } from '../version.js';
import { createLogger, reopenLog } from '../log.js';
import { ClusterPrimary, configFromPrimary, runWorker } from './cluster.js';
import { clusterTarget } from './cluster-target.js';
import { connInfoOf } from './conninfo.js';
import { checkRuntime, type ConfigReader } from './config-check.js';
import { Smapd } from './daemon.js';
import { notifyReady, reportToParent } from './detach.js';
import { dropPrivileges, removePidfile, writePidfile } from './process.js';
import { startServices, type Services } from './services.js';

function report(err: unknown, log: Logger, what: string): void {
  const list = err instanceof ConfigErrors ? err.errors : [err as Error];
  for (const e of list) {
    process.stderr.write(`smapd: ${e.message}\n`);
    reportToParent(`smapd: ${e.message}`);
    log.error({ err: e.message }, what);
  }
}

function logRejectedReload(err: unknown, log: Logger): void {
  const list = err instanceof ConfigErrors ? err.errors : [err as Error];
  for (const e of list) log.error({ err: e.message }, 'reload rejected; keeping the running configuration');
}

/** Wire the signals; resolves with the exit code once `stop` has finished. */
function onSignals(log: Logger, stop: () => Promise<void>, reload: () => Promise<void>, reopen: () => void): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onStop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      void stop().then(() => {
        log.info('smapd stopped');
        log.flush?.();
        resolve(0);
      });
    };
    let reloading = false;
    // A SIGHUP during a reload may follow another edit of the file: it is not dropped, it reloads once more.
    let again = false;
    const onHup = () => {
      if (stopping) return;
      if (reloading) {
        again = true;
        return;
      }
      reloading = true;
      reopen();
      log.info('SIGHUP: reloading configuration');
      void reload().finally(() => {
        reloading = false;
        if (again) {
          again = false;
          onHup();
        }
      });
    };
    process.on('SIGTERM', () => onStop('SIGTERM'));
    process.on('SIGINT', () => onStop('SIGINT'));
    process.on('SIGQUIT', () => onStop('SIGQUIT'));
    process.on('SIGHUP', onHup);
  });
}

/**
 * Run until a stop signal: stop the servers, then the control and metrics listeners, then remove the pidfile.
 * SIGHUP reopens the log file, reads the config again and hands it to `apply`; a config that fails is logged
 * and the running one stays.
 */
function serveUntilSignalled(
  config: SmapdConfig,
  reread: ConfigReader,
  log: Logger,
  how: {
    stop: () => Promise<void>;
    services: Services | undefined;
    apply: (next: SmapdConfig) => Promise<void>;
    /** Besides this process's log file (workers reopen theirs). */
    reopen?: () => void;
  },
): Promise<number> {
  return onSignals(
    log,
    async () => {
      await how.stop();
      await how.services?.close();
      if (config.pidfile) removePidfile(config.pidfile);
    },
    async () => {
      try {
        await how.apply(await reread());
      } catch (err) {
        logRejectedReload(err, log);
      }
    },
    () => {
      reopenLog(log, config.log);
      how.reopen?.();
    },
  );
}

/** Load the config's modules, databases and rules; a failure is reported and gives undefined. */
async function createOrReport(config: SmapdConfig, log: Logger): Promise<Smapd | undefined> {
  try {
    return await Smapd.create(config, log);
  } catch (err) {
    report(err, log, 'configuration rejected');
    return undefined;
  }
}

/** The common case: everything in this process. */
export async function runSingle(config: SmapdConfig, reread: ConfigReader, log: Logger): Promise<number> {
  const daemon = await createOrReport(config, log);
  if (daemon === undefined) return EX_CONFIG;
  let services: Services | undefined;
  try {
    await daemon.listen();
    if (config.pidfile) writePidfile(config.pidfile);
    dropPrivileges(config.user, config.groups, config.allGroups, log);
    // After the privilege drop, so the service user owns the control socket and can remove it at stop.
    services = await startServices(config, smapdTarget(daemon, () => daemon.isStopping), log);
  } catch (err) {
    report(err, log, 'cannot start');
    await daemon.stop();
    return EX_UNAVAILABLE;
  }
  // Signal handlers first: a stop sent as soon as the daemon says it is ready must be a graceful one.
  const served = serveUntilSignalled(config, reread, log, {
    stop: () => daemon.stop(),
    services,
    apply: async (next) => {
      await daemon.reload(next);
      log.info({ config: next.file }, 'configuration reloaded');
    },
  });
  log.info({ version: VERSION, config: config.file, addresses: Object.fromEntries(daemon.addresses) }, 'smapd started');
  notifyReady();
  return served;
}

/** `workers N`: the primary checks the config, forks the workers, then owns the listeners. */
export async function runPrimary(config: SmapdConfig, reread: ConfigReader, log: Logger): Promise<number> {
  try {
    // Check modules and databases once here, so a bad config fails before any worker is forked; a reload
    // runs the same check before any worker sees the new config.
    await checkRuntime(config);
  } catch (err) {
    report(err, log, 'configuration rejected');
    return EX_CONFIG;
  }
  const primary = new ClusterPrimary(config, log);
  let stopping = false;
  const target = clusterTarget(primary, () => stopping);
  let services: Services | undefined;
  try {
    await primary.start();
    if (config.pidfile) writePidfile(config.pidfile);
    dropPrivileges(config.user, config.groups, config.allGroups, log);
    services = await startServices(config, target, log);
  } catch (err) {
    report(err, log, 'cannot start');
    target.stop();
    await primary.stop();
    return EX_UNAVAILABLE;
  }
  const served = serveUntilSignalled(config, reread, log, {
    stop: async () => {
      stopping = true;
      target.stop();
      await primary.stop();
    },
    services,
    apply: async (next) => {
      await checkRuntime(next);
      primary.reload(next);
      log.info({ config: next.file }, 'configuration checked; workers reloading');
    },
    reopen: () => primary.reopenLogs(),
  });
  log.info({ version: VERSION, config: config.file, workers: config.workers, addresses: Object.fromEntries(primary.addresses) }, 'smapd started');
  notifyReady();
  return served;
}

/**
 * A worker of `workers N`: a full smapd without listeners; connections come from the primary, and so does
 * its config (the one the primary checked), at start and at each reload.
 */
export async function runWorkerProcess(): Promise<number> {
  // A SIGHUP to the whole process group would end a worker (the default action); the primary reloads.
  process.on('SIGHUP', () => undefined);
  const configs = await configFromPrimary();
  if (configs === undefined) return EX_UNAVAILABLE;
  // Logging, privileges and servers stay as the daemon started, as they do in one process after a reload.
  const config = configs.initial;
  const log = createLogger(config.log);
  let daemon: Smapd;
  try {
    // Started after a reload: modules, databases and rules of the reloaded config from the first connection on.
    daemon = await Smapd.create(configs.current ?? config, log, config.servers);
    dropPrivileges(config.user, config.groups, config.allGroups, log);
  } catch (err) {
    // Logged, not printed: the primary reports that the worker failed to start.
    const list = err instanceof ConfigErrors ? err.errors : [err as Error];
    for (const e of list) log.fatal({ err: e.message }, 'worker cannot start');
    return EX_CONFIG;
  }
  const reload = async (next: SmapdConfig) => {
    try {
      await daemon.reload(next);
      log.info('worker reloaded configuration');
    } catch (err) {
      logRejectedReload(err, log);
    }
  };
  // Reloads apply one after the other, so a slow one cannot finish after, and undo, the next.
  let reloads = Promise.resolve();
  return runWorker(
    daemon,
    {
      reload: (next) => (reloads = reloads.then(() => reload(next))),
      reopenLog: () => reopenLog(log, config.log),
    },
    log,
  );
}

/** inetd mode: stdin/stdout is one client connection; exit when it closes. */
export async function runInetd(config: SmapdConfig, log: Logger): Promise<number> {
  const daemon = await createOrReport(config, log);
  if (daemon === undefined) return EX_CONFIG;
  const { stream, info } = inetdStream();
  await daemon.serveStream(stream, info);
  await daemon.stop();
  return 0;
}

function inetdStream(): { stream: Duplex; info: ConnInfo } {
  const in0 = fstatSync(0);
  const out1 = fstatSync(1);
  // inetd hands over one socket as both fd 0 and fd 1; anything else (pipes, a socketpair per direction) is
  // read from stdin and written to stdout.
  if (in0.isSocket() && in0.ino === out1.ino && in0.dev === out1.dev) {
    const sock = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
    return { stream: sock, info: connInfoOf(sock, { id: 'inetd' }) };
  }
  return {
    stream: Duplex.from({ readable: process.stdin, writable: process.stdout }),
    info: { serverId: 'inetd', family: 'unix', src: '', srcPort: 0, dst: '', dstPort: 0 },
  };
}
