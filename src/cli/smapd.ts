#!/usr/bin/env node
/**
 * smapd: the socket map daemon. Reads the config, checks it (`-t` stops there), then listens, or serves
 * stdin/stdout in inetd mode. SIGTERM/SIGINT/SIGQUIT stop gracefully; SIGHUP reloads the config.
 */
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { loadConfig, type ConfigOverrides } from '../config/parser.js';
import { defaultConfigFile } from '../config/default-path.js';
import { parseDebugSpec, parseFacility } from '../config/logging.js';
import type { SmapdConfig } from '../config/types.js';
import { ConfigErrors, EX_CONFIG, EX_SOFTWARE, EX_USAGE, SmapdError } from '../errors.js';
import { createLogger } from '../log.js';
import { ruleWarnings } from '../dispatch/lint.js';
import { Runtime } from '../server/runtime.js';
import { detach } from '../server/detach.js';
import { installFaultHandlers } from '../server/fault-handlers.js';
import { lintLogger } from './lint-log.js';
import { checkServable, type ServeMode } from '../server/config-check.js';
import { runInetd, runPrimary, runSingle, runWorkerProcess } from '../server/run.js';
import { VERSION } from '../version.js';
import { isMainModule } from './is-main.js';

export const DEFAULT_CONFIG = defaultConfigFile();

interface CliOptions {
  config: string;
  lint?: boolean;
  inetd?: boolean;
  foreground?: boolean;
  singleProcess?: boolean;
  stderr?: boolean;
  syslog?: boolean;
  logTag?: string;
  logFacility?: string;
  logLevel?: string;
  logFormat?: string;
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
    .option('-s, --single-process', "GNU Smap's single-process mode: serve every connection in one process (workers 1)")
    .option('-e, --stderr', 'log to stderr')
    .option('-l, --syslog', 'log for syslog (to stderr, for journald)')
    .option('-L, --log-tag <tag>', 'log tag')
    .option('-F, --log-facility <facility>', 'syslog facility')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    .addOption(new Option('--log-format <format>', 'log lines: text (human), json, or auto (text on a terminal or the journal)').choices(['text', 'json', 'auto']))
    .option('-T, --trace', 'log each query and its reply')
    .option('-p, --trace-pattern <prefix>', 'trace only replies starting with prefix (repeatable)', collect)
    .option('-d, --debug <spec>', 'debug spec: LEVEL or CATEGORY[.LEVEL] (repeatable)', collect)
    .usage(USAGE)
    .showHelpAfterError(`usage: smapd ${USAGE}\n(smapd --help shows every option)`)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, 'smapd: ')) });
}

const USAGE = '[-f] [-t] [-i] [-s] [-c FILE] [-e | -l] [--log-level LEVEL] [--log-format FORMAT] [-T] [-d SPEC]...';

/** Command-line values win over the config file, as in GNU Smap. */
function overridesOf(o: CliOptions): ConfigOverrides {
  const log: { -readonly [K in keyof SmapdConfig['log']]?: SmapdConfig['log'][K] } = {};
  if (o.stderr) log.destination = 'stderr';
  if (o.syslog) log.destination = 'syslog';
  if (o.logTag) log.tag = o.logTag;
  if (o.logFacility) log.facility = parseFacility(o.logFacility, CLI_LOC);
  if (o.logLevel) log.level = o.logLevel as SmapdConfig['log']['level'];
  if (o.logFormat) log.format = o.logFormat as SmapdConfig['log']['format'];
  if (o.debug) log.debug = parseDebugSpec(o.debug.flatMap((d) => d.split(/\s+/)), CLI_LOC);
  const out: { -readonly [K in keyof ConfigOverrides]: ConfigOverrides[K] } = { log };
  if (o.inetd) out.inetdMode = true;
  if (o.foreground) out.foreground = true;
  if (o.singleProcess) out.workers = 1;
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

/** True in a worker process of `workers N`, which takes its config from the primary, not from the file. */
function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env['SMAPD_WORKER'] === '1';
}

export async function smapdMain(argv: string[]): Promise<number> {
  let o: CliOptions;
  try {
    o = program().parse(argv, { from: 'user' }).opts<CliOptions>();
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : EX_USAGE;
  }
  if (isWorkerProcess()) return runWorkerProcess();

  let config: SmapdConfig;
  try {
    config = await readConfig(o);
    if (o.lint) {
      const rt = await Runtime.create(config, lintLogger());
      await rt.close();
      for (const w of ruleWarnings(config.rules)) process.stderr.write(`smapd: ${w}\n`);
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

  // A reload runs the same check (`reread` below), against the mode the daemon was started in.
  const mode: ServeMode = config.inetdMode ? 'inetd' : 'listen';
  try {
    checkServable(config, mode);
  } catch (err) {
    printConfigErrors(err);
    return EX_CONFIG;
  }
  if (!config.foreground && !config.inetdMode) {
    if (config.log.destination === 'stderr' || config.log.destination === 'syslog') {
      process.stderr.write('smapd: warning: a detached daemon has no stderr, so its log is lost; set log-file, or run with -f\n');
    }
    return detach(fileURLToPath(import.meta.url), argv);
  }

  const log = createLogger(config.log);
  installFaultHandlers(log);
  const reread = async () => checkServable(await readConfig(o), mode);
  if (config.inetdMode) return runInetd(config, log);
  if (config.workers > 1) return runPrimary(config, reread, log);
  return runSingle(config, reread, log);
}

if (isMainModule(import.meta.url)) {
  smapdMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`smapd: internal error: ${(err as Error).stack ?? err}\n`);
      process.exit(EX_SOFTWARE);
    },
  );
}
