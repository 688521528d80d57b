/**
 * Everything one config version serves with: its modules and databases and the compiled dispatch rules.
 * Connections hold the runtime they were accepted under, so a reload lets them finish on the old one; an old
 * runtime closes its databases when its last connection ends.
 */
import type { Logger } from 'pino';
import type { SmapdConfig } from '../config/types.js';
import { compileRules, type Dispatcher } from '../dispatch/index.js';
import { Registry } from '../modules/registry.js';

export class Runtime {
  private refs = 0;
  private retired = false;
  private closing: Promise<void> | null = null;

  private constructor(
    readonly config: SmapdConfig,
    readonly registry: Registry,
    readonly dispatcher: Dispatcher,
  ) {}

  /** Build a runtime; throws ConfigErrors with every problem (unknown module, bad rule, ...). */
  static async create(config: SmapdConfig, log: Logger): Promise<Runtime> {
    const registry = await Registry.create(config, log);
    try {
      const dispatcher = compileRules(config.rules, (id) => registry.databases.get(id));
      return new Runtime(config, registry, dispatcher);
    } catch (err) {
      await registry.close();
      throw err;
    }
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
