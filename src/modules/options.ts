/**
 * `name=value` option parsing for module arguments, as GNU Smap's smap_parseopt: string, number, boolean
 * (`name`, `noname`, `name=yes|no`), enum, and duration (`30`, `30s`, `5m`, `1h`, `250ms` → milliseconds).
 * Words without `=` that are not boolean options are positional (when allowed), unless they are close to an
 * option's name: those are reported as a misspelt option with the nearest name ("did you mean").
 */
import { closest } from '../config/suggest.js';
import { ModuleArgumentError } from '../errors.js';

export type OptionType = 'string' | 'number' | 'boolean' | 'duration' | readonly string[];

export interface OptionDef {
  readonly type: OptionType;
  readonly default?: string | number | boolean;
  /** Accept the option more than once; the value becomes the last one given (or all, with `multi`). */
  readonly aliases?: readonly string[];
}

export type OptionSpec = Readonly<Record<string, OptionDef>>;
export type OptionValue = string | number | boolean;
export type OptionValues = Record<string, OptionValue | undefined>;

export interface ParsedOptions {
  /** Option values by canonical name; defaults filled in. */
  readonly values: OptionValues;
  /** Words that were not options, in order. */
  readonly positional: readonly string[];
  /** Names of the options given explicitly (not defaulted). */
  readonly given: ReadonlySet<string>;
}

const TRUE_WORDS = new Set(['yes', 'on', 't', 'true', '1']);
const FALSE_WORDS = new Set(['no', 'off', 'nil', 'false', '0']);

export function parseBoolean(text: string): boolean | undefined {
  const w = text.toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return undefined;
}

/** Parse a duration: plain number = seconds; suffixes ms, s, m, h, d. Returns milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60000 : unit === 'h' ? 3600000 : 86400000;
  return Math.round(n * mult);
}

/** Parse a byte size: plain number, or with K, M, G suffix (powers of 1024). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)([kKmMgG])?[bB]?$/.exec(text.trim());
  if (!m) return undefined;
  const mult = !m[2] ? 1 : /k/i.test(m[2]) ? 1024 : /m/i.test(m[2]) ? 1024 ** 2 : 1024 ** 3;
  return Number(m[1]) * mult;
}

/**
 * Parse option words against a spec. Later words override earlier ones, so passing
 * `[...moduleArgs, ...dbArgs]` gives database arguments precedence over module defaults.
 */
export function parseOptions(
  args: readonly string[],
  spec: OptionSpec,
  opts: { allowPositional?: boolean; context?: string } = {},
): ParsedOptions {
  const canon = new Map<string, string>();
  for (const [name, def] of Object.entries(spec)) {
    canon.set(name, name);
    for (const a of def.aliases ?? []) canon.set(a, name);
  }
  const values: OptionValues = {};
  const given = new Set<string>();
  const positional: string[] = [];
  const where = opts.context ? `${opts.context}: ` : '';

  for (const word of args) {
    const eq = word.indexOf('=');
    const rawName = eq < 0 ? word : word.slice(0, eq);
    let name = canon.get(rawName);
    let negated = false;
    if (name === undefined && eq < 0 && rawName.startsWith('no')) {
      const base = canon.get(rawName.slice(2));
      if (base !== undefined && spec[base]!.type === 'boolean') {
        name = base;
        negated = true;
      }
    }
    if (name === undefined) {
      // A word close to an option name is a misspelt option, not a positional argument (a file name).
      const near = closest(rawName, canon.keys());
      if (eq < 0 && opts.allowPositional && near === undefined) {
        positional.push(word);
        continue;
      }
      throw new ModuleArgumentError(`${where}unknown option '${rawName}'${near === undefined ? '' : ` (did you mean '${near}'?)`}`);
    }
    const def = spec[name]!;
    if (eq < 0) {
      if (def.type !== 'boolean') throw new ModuleArgumentError(`${where}option '${name}' needs a value (${name}=...)`);
      values[name] = !negated;
    } else {
      values[name] = convert(name, word.slice(eq + 1), def.type, where);
    }
    given.add(name);
  }
  for (const [name, def] of Object.entries(spec)) {
    if (values[name] === undefined && def.default !== undefined) values[name] = def.default;
  }
  return { values, positional, given };
}

function convert(name: string, text: string, type: OptionType, where: string): OptionValue {
  if (typeof type !== 'string') {
    if (!type.includes(text)) {
      throw new ModuleArgumentError(`${where}option '${name}' must be one of ${type.join(', ')}, not '${text}'`);
    }
    return text;
  }
  switch (type) {
    case 'string':
      return text;
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) {
        throw new ModuleArgumentError(`${where}option '${name}' must be a number, not '${text}'`);
      }
      return n;
    }
    case 'boolean': {
      const b = parseBoolean(text);
      if (b === undefined) throw new ModuleArgumentError(`${where}option '${name}' must be yes or no, not '${text}'`);
      return b;
    }
    case 'duration': {
      const d = parseDuration(text);
      if (d === undefined) {
        throw new ModuleArgumentError(`${where}option '${name}' must be a duration (e.g. 5s, 250ms), not '${text}'`);
      }
      return d;
    }
  }
}
