/**
 * The checks a configuration must pass before smapd serves with it. A start and every reload (SIGHUP, in one
 * process and in the primary of `workers N`) run these same functions, so a reload can never install what a
 * start would refuse: a config without `server` that a start exits 78 on would, installed by a reload, answer
 * every lookup `NOTFOUND`, which Postfix takes for "no such user" and bounces mail on.
 */
import { pino } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import { ConfigError, ConfigErrors } from '../errors.js';
import { Runtime } from './runtime.js';

/** Reads the config file and runs the checks that need no module (`checkServable`); throws `ConfigErrors`. */
export type ConfigReader = () => Promise<SmapdConfig>;

/** How the process serves: on its listeners, or one connection on stdin/stdout (inetd mode). */
export type ServeMode = 'listen' | 'inetd';

/**
 * The checks of a parsed config that need no module: a daemon that listens needs a `server`. An empty file
 * fails here too. Throws `ConfigErrors` naming the file.
 */
export function checkServable(config: SmapdConfig, mode: ServeMode): SmapdConfig {
  if (mode === 'listen' && config.servers.length === 0) {
    throw new ConfigErrors([new ConfigError(`${config.file}: no servers configured (no 'server' statement, and inetd mode is off)`)]);
  }
  return config;
}

/**
 * Load the config's modules, databases and rules once and close them again, without opening any backend:
 * what the primary of `workers N` runs, at start and at reload, before any worker is given the config.
 * Throws `ConfigErrors` with every problem.
 */
export async function checkRuntime(config: SmapdConfig): Promise<void> {
  await (await Runtime.create(config, pino({ level: 'silent' }))).close();
}
