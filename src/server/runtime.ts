/**
 * Everything one config version serves with: its modules and databases and the compiled dispatch rules.
 * Connections hold the runtime they were accepted under, so a reload lets them finish on the old one; an old
 * runtime closes its databases when its last connection ends.
 */
import type { Logger } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import { compileRules, type Dispatcher } from '../dispatch/index.js';
import { ruleWarnings } from '../dispatch/lint.js';
import { Registry } from '../modules/registry.js';
import type { DatabaseHandle } from '../modules/database.js';
import { ConfigError, ConfigErrors } from '../errors.js';
import { NOTFOUND, type Reply } from '../protocol/reply.js';
import type { ConnInfo } from '../modules/api.js';
import { categoryLogger, debugLevelFor } from '../log.js';

function placeholder(id: string): DatabaseHandle {
  return { id, moduleId: '', canQuery: true, canTransform: true, query: () => NOTFOUND, transform: () => null };
}

export class Runtime {
  private refs = 0;
  private retired = false;
  private closing: Promise<void> | null = null;

  /** Logs of connections (GNU Smap's `srvman` debug category). */
  readonly serverLog: Logger;
  /** The `query` debug category, when turned on: each request and its reply at debug level. */
  readonly queryLog: Logger | undefined;
  /** `trace yes`: logs `MAP KEY => REPLY`, filtered by `trace-pattern`. */
  readonly tracer: ((map: string, key: string, reply: Reply, conn: ConnInfo) => void) | undefined;

  private constructor(
    readonly config: SmapdConfig,
    readonly registry: Registry,
    readonly dispatcher: Dispatcher,
    log: Logger,
  ) {
    this.serverLog = categoryLogger(log, config.log, 'srvman');
    this.queryLog = debugLevelFor(config.log, 'query') ? categoryLogger(log, config.log, 'query') : undefined;
    this.tracer = config.trace ? makeTracer(log, config.tracePatterns) : undefined;
  }

  /** Build a runtime; throws ConfigErrors with every problem (unknown module, bad rule, ...). */
  static async create(config: SmapdConfig, log: Logger): Promise<Runtime> {
    const { registry, errors } = await Registry.load(config, log);
    // A database that is declared but failed to load has its error reported already; stand in for it so the
    // rules naming it are still checked for everything else.
    const declared = new Set(config.databases.map((d) => d.id));
    const lookup = (id: string) => registry.databases.get(id) ?? (declared.has(id) ? placeholder(id) : undefined);
    let dispatcher: Dispatcher | undefined;
    try {
      dispatcher = compileRules(config.rules, lookup);
    } catch (err) {
      if (err instanceof ConfigErrors) errors.push(...err.errors);
      else if (err instanceof ConfigError) errors.push(err);
      else throw err;
    }
    if (errors.length > 0 || dispatcher === undefined) {
      await registry.close();
      throw new ConfigErrors(errors.sort((a, b) => (a.loc?.line ?? 0) - (b.loc?.line ?? 0)));
    }
    for (const w of ruleWarnings(config.rules)) log.warn(w);
    return new Runtime(config, registry, dispatcher, log);
  }

  /**
   * Build a runtime that is ready to serve: `create`, then open the databases that load their data at open
   * (`openAtStart`: a `file` map), so that the first lookup does not wait for a load. Used by the daemon at
   * start (before it listens) and at reload (before the new runtime replaces the old); `smapd -t` uses
   * `create` alone, which does no backend I/O.
   */
  static async start(config: SmapdConfig, log: Logger): Promise<Runtime> {
    const rt = await Runtime.create(config, log);
    await rt.registry.openAtStart();
    return rt;
  }

  acquire(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.retired) void this.close();
  }

  /** The runtime is replaced: close it once no connection uses it. */
  retire(): Promise<void> {
    this.retired = true;
    return this.refs === 0 ? this.close() : Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= this.registry.close();
    return this.closing;
  }
}

function makeTracer(log: Logger, patterns: readonly string[]) {
  return (map: string, key: string, reply: Reply, conn: ConnInfo): void => {
    if (patterns.length > 0 && !patterns.some((p) => reply.startsWith(p))) return;
    log.info({ server: conn.serverId, src: conn.src }, `TRACE: ${map} ${key} => ${reply}`);
  };
}
