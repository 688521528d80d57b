/**
 * Builds the modules and databases a config declares: resolve and import each module file, run `init`,
 * run `initDb` for each database, and wrap it in a DatabaseHandle. Every failure becomes a ConfigError with
 * the statement's file and line, and all of them are reported together — `smapd -t` runs exactly this.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import { ConfigError, errorDetail } from '../errors.js';
import { replies } from '../protocol/reply.js';
import { categoryLogger } from '../log.js';
import { ALL_CLIENT_FIELDS, type DatabaseContext, type ModuleContext, type SmapModule } from './api.js';
import { ResultCache } from './cache.js';
import { DEFAULT_QUERY_TIMEOUT_MS, DatabaseHandleImpl } from './handle.js';
import { callHook, INIT_TIMEOUT_MS, MIN_CLOSE_BUDGET_MS } from './hooks.js';
import { importModule, resolveModule } from './loader.js';
import { inScope, ModuleScope } from './scope.js';
import { parseOptions } from './options.js';
import { compileTemplate } from './template.js';
import { compileReplyTemplate } from './reply-template.js';

interface LoadedModule {
  readonly id: string;
  readonly mod: SmapModule;
  readonly file: string;
  readonly args: readonly string[];
  /** Scope of the module's own hooks (init, done): a fault there is logged, and the module goes on. */
  readonly scope: ModuleScope;
}

/** Deadlines of the module hooks; tests shorten them. */
export interface HookLimits {
  /** `init` and `initDb`. */
  readonly initMs: number;
}

const DEFAULT_LIMITS: HookLimits = { initMs: INIT_TIMEOUT_MS };

export class Registry {
  private constructor(
    readonly modules: ReadonlyMap<string, LoadedModule>,
    readonly databases: ReadonlyMap<string, DatabaseHandleImpl>,
    private readonly log: Logger,
    /** How long closing every database and module may take in all (from `shutdown-timeout`). */
    private readonly closeBudgetMs: number,
  ) {}

  /**
   * Load what can be loaded and return the problems alongside, so that a config check can go on to the
   * dispatch rules and report their errors too.
   */
  static async load(
    config: SmapdConfig,
    log: Logger,
    limits: HookLimits = DEFAULT_LIMITS,
  ): Promise<{ registry: Registry; errors: ConfigError[] }> {
    const errors: ConfigError[] = [];
    const configDir = path.dirname(config.file);
    const modLog = categoryLogger(log, config.log, 'module');
    const dbLog = categoryLogger(log, config.log, 'database');
    const modules = new Map<string, LoadedModule>();
    const databases = new Map<string, DatabaseHandleImpl>();

    const cache = new Map<string, SmapModule>();
    for (const decl of config.modules) {
      try {
        const file = resolveModule(decl.name, config.loadPath, configDir);
        const scope = new ModuleScope(decl.id, undefined, modLog);
        let mod = cache.get(file);
        if (mod === undefined) {
          // In the module's scope: a timer its top-level code starts is the module's, not smapd's.
          mod = await inScope(scope, () => importModule(file));
          cache.set(file, mod);
        }
        const ctx = moduleContext(decl.id, modLog, configDir);
        const m = mod;
        await callHook(scope, 'init()', limits.initMs, () => m.init?.(decl.args, ctx));
        modules.set(decl.id, { id: decl.id, mod, file, args: decl.args, scope });
      } catch (err) {
        errors.push(new ConfigError(`module ${decl.id}: ${unprefixed(errorDetail(err), `module ${decl.id}: `)}`, decl.loc));
      }
    }

    for (const decl of config.databases) {
      const m = modules.get(decl.moduleId);
      if (m === undefined) {
        if (!config.modules.some((d) => d.id === decl.moduleId)) {
          errors.push(new ConfigError(`database ${decl.id}: no such module: ${decl.moduleId}`, decl.loc));
        }
        continue; // the module's own error is reported already
      }
      if (config.workers > 1 && m.mod.multiProcess === false) {
        errors.push(
          new ConfigError(
            `database ${decl.id}: module ${m.id} cannot share its database between processes; use workers 1`,
            decl.loc,
          ),
        );
      }
      try {
        let cacheObj: ResultCache | undefined;
        const timeout = decl.timeout > 0 ? decl.timeout : DEFAULT_QUERY_TIMEOUT_MS;
        const base = moduleContext(m.id, modLog, configDir);
        const ctx: DatabaseContext = {
          ...base,
          log: base.log.child({ db: decl.id }),
          dbId: decl.id,
          moduleArgs: m.args,
          dataChanged: () => cacheObj?.clear(),
          queryTimeoutMs: timeout,
        };
        const scope = new ModuleScope(m.id, decl.id, dbLog);
        // A state that initDb returns after its deadline is closed, so it holds nothing open for ever.
        const late = (st: unknown) => {
          dbLog.warn({ module: m.id, db: decl.id }, 'initDb finished after its deadline; closing what it made');
          void Promise.resolve(inScope(scope, () => m.mod.closeDb?.(st))).catch((err: unknown) =>
            dbLog.warn({ module: m.id, db: decl.id, err: errorDetail(err) }, 'error closing database'),
          );
        };
        const state = await callHook(scope, 'initDb()', limits.initMs, () => m.mod.initDb(decl.args, ctx), late);
        const depends = inScope(scope, () => m.mod.answerDependsOn?.(state)) ?? ALL_CLIENT_FIELDS;
        if (decl.cache) cacheObj = new ResultCache(decl.cache, depends);
        databases.set(decl.id, new DatabaseHandleImpl(decl.id, m.id, m.mod, state, dbLog, timeout, cacheObj, scope));
      } catch (err) {
        errors.push(new ConfigError(`database ${decl.id}: ${unprefixed(errorDetail(err), `database ${decl.id}: `)}`, decl.loc));
      }
    }

    const closeBudget = Math.max(config.shutdownTimeout, MIN_CLOSE_BUDGET_MS);
    return { registry: new Registry(modules, databases, log, closeBudget), errors };
  }

  /**
   * Open the databases whose module asks for it (`openAtStart`), all at once, and wait for them. Never
   * throws: a failed open is logged by the handle and retried on first use.
   */
  async openAtStart(): Promise<void> {
    const eager = [...this.databases.values()].filter((h) => this.modules.get(h.moduleId)?.mod.openAtStart === true);
    await Promise.all(eager.map((h) => h.open()));
  }

  /**
   * Close every database (reverse order of declaration), then every module. All of it together waits at
   * most the close budget: a hook still running when it is spent is logged and left behind.
   */
  async close(): Promise<void> {
    const deadline = Date.now() + this.closeBudgetMs;
    for (const h of [...this.databases.values()].reverse()) await h.close(Math.min(deadline - Date.now(), h.timeoutMs > 0 ? h.timeoutMs : Infinity));
    const done = new Set<SmapModule>();
    for (const m of [...this.modules.values()].reverse()) {
      if (done.has(m.mod)) continue;
      done.add(m.mod);
      try {
        await callHook(m.scope, 'done()', deadline - Date.now(), () => m.mod.done?.());
      } catch (err) {
        this.log.warn({ module: m.id, err: errorDetail(err) }, 'error in module done(); going on without it');
      }
    }
  }
}

/**
 * The message without the statement's name in front: the registry names the module or database itself, and
 * modules often name it too (their messages are also logged at run time, where the name is needed), which
 * would print it twice. Done here, once, so every module's messages read right, third-party ones included.
 */
function unprefixed(detail: string, prefix: string): string {
  while (detail.startsWith(prefix)) detail = detail.slice(prefix.length);
  return detail;
}

const replyTools = { reply: replies, compileTemplate };

function moduleContext(moduleId: string, log: Logger, configDir: string): ModuleContext {
  return {
    moduleId,
    log: log.child({ module: moduleId }),
    reply: replies,
    parseOptions,
    compileTemplate,
    compileReply: (text, allowed, what) => compileReplyTemplate(replyTools, text, allowed, what),
    configDir,
  };
}
