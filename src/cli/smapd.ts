#!/usr/bin/env node
/**
 * smapd: the socket map daemon. Reads the config, checks it (`-t` stops there), then listens, or serves
 * stdin/stdout in inetd mode. SIGTERM/SIGINT/SIGQUIT stop gracefully; SIGHUP reloads the config.
 */
import cluster from 'node:cluster';
import { fstatSync, realpathSync } from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { Command, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { loadConfig, type ConfigOverrides } from '../config/parser.js';
import { parseDebugSpec, parseFacility } from '../config/logging.js';
import type { SmapdConfig } from '../config/types.js';
import { ConfigErrors, EX_CONFIG, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE, SmapdError } from '../errors.js';
import { createLogger } from '../log.js';
import { Smapd } from '../server/daemon.js';
import { Runtime } from '../server/runtime.js';
import { ClusterPrimary, runWorker } from '../server/cluster.js';
import { detach, notifyReady } from '../server/detach.js';
import { dropPrivileges, removePidfile, writePidfile } from '../server/process.js';
import { VERSION } from '../version.js';

export const DEFAULT_CONFIG = process.env.SMAPD_CONF ?? '/etc/smapd.conf';

interface CliOptions {
  config: string;
  lint?: boolean;
  inetd?: boolean;
  foreground?: boolean;
  stderr?: boolean;
  syslog?: boolean;
  logTag?: string;
  logFacility?: string;
  logLevel?: string;
  trace?: boolean;
  tracePattern?: string[];
  debug?: string[];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function program(): Command {
  return new Command('smapd')
    .description('Socket map daemon: answers sockmap lookups from Postfix, Sendmail, MeTA1 and Mailfromd')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG)
    .option('-t, --lint', 'check the configuration and exit (0 = good, 78 = errors)')
    .option('-i, --inetd', 'inetd mode: serve one connection on stdin/stdout')
    .option('-f, --foreground', 'stay in the foreground (use this under systemd)')
    .option('-e, --stderr', 'log to stderr')
    .option('-l, --syslog', 'log for syslog (to stderr, for journald)')
    .option('-L, --log-tag <tag>', 'log tag')
    .option('-F, --log-facility <facility>', 'syslog facility')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    .option('-T, --trace', 'log each query and its reply')
    .option('-p, --trace-pattern <prefix>', 'trace only replies starting with prefix (repeatable)', collect)
    .option('-d, --debug <spec>', 'debug spec: LEVEL or CATEGORY[.LEVEL] (repeatable)', collect)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

/** Command-line values win over the config file, as in GNU Smap. */
function overridesOf(o: CliOptions): ConfigOverrides {
  const log: { -readonly [K in keyof SmapdConfig['log']]?: SmapdConfig['log'][K] } = {};
  if (o.stderr) log.destination = 'stderr';
  if (o.syslog) log.destination = 'syslog';
  if (o.logTag) log.tag = o.logTag;
  if (o.logFacility) log.facility = parseFacility(o.logFacility, CLI_LOC);
  if (o.logLevel) log.level = o.logLevel as SmapdConfig['log']['level'];
  if (o.debug) log.debug = parseDebugSpec(o.debug.flatMap((d) => d.split(/\s+/)), CLI_LOC);
  const out: { -readonly [K in keyof ConfigOverrides]: ConfigOverrides[K] } = { log };
  if (o.inetd) out.inetdMode = true;
  if (o.foreground) out.foreground = true;
  if (o.trace) out.trace = true;
  if (o.tracePattern) out.tracePatterns = o.tracePattern;
  return out;
}

const CLI_LOC = { file: 'command line', line: 0 };

function printConfigErrors(err: unknown): void {
  const list = err instanceof ConfigErrors ? err.errors : [err as Error];
  for (const e of list) process.stderr.write(`smapd: ${e.message}\n`);
}

/** Read and check the config, with command-line overrides applied. */
async function readConfig(o: CliOptions): Promise<SmapdConfig> {
  return loadConfig(o.config, overridesOf(o));
}

export async function smapdMain(argv: string[]): Promise<number> {
  let o: CliOptions;
  try {
    o = program().parse(argv, { from: 'user' }).opts<CliOptions>();
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : EX_USAGE;
  }

  let config: SmapdConfig;
  try {
    config = await readConfig(o);
    if (o.lint) {
      const rt = await Runtime.create(config, pino({ level: 'silent' }));
      await rt.close();
      if (config.servers.length === 0 && !config.inetdMode) {
        process.stderr.write(`smapd: ${config.file}: warning: no servers configured\n`);
      }
      process.stdout.write(`${config.file}: configuration OK\n`);
      return 0;
    }
  } catch (err) {
    if (err instanceof SmapdError) {
      printConfigErrors(err);
      return EX_CONFIG;
    }
    throw err;
  }

  if (!config.inetdMode && config.servers.length === 0) {
    process.stderr.write(`smapd: ${config.file}: no servers configured; exiting\n`);
    return EX_CONFIG;
  }
  if (!config.foreground && !config.inetdMode) return detach(argv);

  const log = createLogger(config.log);
  if (config.workers > 1 && !config.inetdMode) {
    return cluster.isPrimary ? runPrimary(config, o, log) : runWorkerProcess(config, o, log);
  }
  let daemon: Smapd;
  try {
    daemon = await Smapd.create(config, log);
  } catch (err) {
    printConfigErrors(err);
    log.fatal({ err: (err as Error).message }, 'configuration rejected');
    return EX_CONFIG;
  }
  if (config.inetdMode) return serveInetd(daemon);

  try {
    await daemon.listen();
    if (config.pidfile) writePidfile(config.pidfile);
    dropPrivileges(config.user, config.groups, config.allGroups, log);
  } catch (err) {
    process.stderr.write(`smapd: ${(err as Error).message}\n`);
    log.fatal({ err: (err as Error).message }, 'cannot start');
    await daemon.stop();
    return EX_UNAVAILABLE;
  }
  log.info({ version: VERSION, config: config.file }, 'smapd started');
  notifyReady();
  return runUntilStopped(daemon, o, log);
}

/** `workers N`: the primary checks the config, forks the workers, then owns the listeners. */
async function runPrimary(config: SmapdConfig, o: CliOptions, log: Logger): Promise<number> {
  try {
    // Check modules and databases here once, so a bad config fails before any worker is forked.
    const rt = await Runtime.create(config, pino({ level: 'silent' }));
    await rt.close();
  } catch (err) {
    printConfigErrors(err);
    return EX_CONFIG;
  }
  const primary = new ClusterPrimary(config, log);
  try {
    await primary.start();
    if (config.pidfile) writePidfile(config.pidfile);
    dropPrivileges(config.user, config.groups, config.allGroups, log);
  } catch (err) {
    process.stderr.write(`smapd: ${(err as Error).message}\n`);
    log.fatal({ err: (err as Error).message }, 'cannot start');
    await primary.stop();
    return EX_UNAVAILABLE;
  }
  log.info({ version: VERSION, config: config.file, workers: config.workers }, 'smapd started');
  notifyReady();
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void primary.stop().then(() => {
        if (config.pidfile) removePidfile(config.pidfile);
        log.info('smapd stopped');
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGQUIT', () => stop('SIGQUIT'));
    process.on('SIGHUP', () => {
      void (async () => {
        try {
          const next = await readConfig(o);
          const rt = await Runtime.create(next, pino({ level: 'silent' }));
          await rt.close();
          primary.reload(next);
          log.info({ config: next.file }, 'configuration checked; workers reloading');
        } catch (err) {
          const list = err instanceof ConfigErrors ? err.errors : [err as Error];
          for (const e of list) log.error({ err: e.message }, 'reload rejected; keeping the running configuration');
        }
      })();
    });
  });
}

/** A worker of `workers N`: a full smapd without listeners; connections come from the primary. */
async function runWorkerProcess(config: SmapdConfig, o: CliOptions, log: Logger): Promise<number> {
  let daemon: Smapd;
  try {
    daemon = await Smapd.create(config, log);
    dropPrivileges(config.user, config.groups, config.allGroups, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'worker cannot start');
    return EX_CONFIG;
  }
  const reload = async () => {
    try {
      await daemon.reload(await readConfig(o));
      log.info('worker reloaded configuration');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'worker reload failed; keeping the running configuration');
    }
  };
  return runWorker(daemon, reload, log);
}

function runUntilStopped(daemon: Smapd, o: CliOptions, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void daemon.stop().then(() => {
        if (daemon.config.pidfile) removePidfile(daemon.config.pidfile);
        log.info('smapd stopped');
        log.flush?.();
        resolve(0);
      });
    };
    let reloading = false;
    const reload = async () => {
      if (reloading) return;
      reloading = true;
      try {
        const next = await readConfig(o);
        await daemon.reload(next);
        log.info({ config: next.file }, 'configuration reloaded');
      } catch (err) {
        const list = err instanceof ConfigErrors ? err.errors : [err as Error];
        for (const e of list) log.error({ err: e.message }, 'reload rejected; keeping the running configuration');
      } finally {
        reloading = false;
      }
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGQUIT', () => stop('SIGQUIT'));
    process.on('SIGHUP', () => void reload());
  });
}

/** inetd mode: stdin/stdout is one client connection. */
async function serveInetd(daemon: Smapd): Promise<number> {
  let stream: Duplex;
  let info: { family: 'inet' | 'inet6' | 'unix'; src: string; srcPort: number; dst: string; dstPort: number };
  const in0 = fstatSync(0);
  const out1 = fstatSync(1);
  // inetd hands over one socket as both fd 0 and fd 1; anything else (pipes, a socketpair per direction) is
  // read from stdin and written to stdout.
  if (in0.isSocket() && in0.ino === out1.ino && in0.dev === out1.dev) {
    const sock = new net.Socket({ fd: 0, readable: true, writable: true, allowHalfOpen: true });
    stream = sock;
    const mapped = (a: string | undefined) => (a ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
    info = sock.remoteAddress
      ? {
          family: sock.remoteFamily === 'IPv6' && !/^::ffff:\d/i.test(sock.remoteAddress) ? 'inet6' : 'inet',
          src: mapped(sock.remoteAddress),
          srcPort: sock.remotePort ?? 0,
          dst: mapped(sock.localAddress),
          dstPort: sock.localPort ?? 0,
        }
      : { family: 'unix', src: '', srcPort: 0, dst: '', dstPort: 0 };
  } else {
    // stdin/stdout are pipes (a test harness, or `smapd -i < requests`): join them into one stream.
    stream = Duplex.from({ readable: process.stdin, writable: process.stdout });
    info = { family: 'unix', src: '', srcPort: 0, dst: '', dstPort: 0 };
  }
  await daemon.serveStream(stream, { serverId: 'inetd', ...info });
  await daemon.stop();
  return 0;
}

function isMain(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(new URL(import.meta.url).pathname);
  } catch {
    return false;
  }
}

if (isMain()) {
  smapdMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`smapd: internal error: ${(err as Error).stack ?? err}\n`);
      process.exit(EX_SOFTWARE);
    },
  );
}
