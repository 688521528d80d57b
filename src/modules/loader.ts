/**
 * Finds and imports module files. `module ID NAME` resolves NAME as a path when it looks like one
 * (contains `/` or ends in `.js`/`.mjs`), else searches the load path for `NAME.js`, `NAME.mjs`,
 * `NAME/index.js`, with the built-in `modules/` directory last, so a user's module can shadow a built-in.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ModuleLoadError } from '../errors.js';
import { MODULE_API_VERSION, type Capability, type SmapModule } from './api.js';
import { registerApiResolution } from './api-resolution.js';

/** Where the compiled built-in modules are: `<outDir>/modules`, beside `<outDir>/src`. */
export const BUILTIN_MODULE_DIR = path.resolve(import.meta.dirname, '..', '..', 'modules');

const CANDIDATES = ['.js', '.mjs', '/index.js', '/index.mjs'];

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The file a module name stands for, or a ModuleLoadError listing every place tried. */
export function resolveModule(name: string, searchPath: readonly string[], baseDir: string): string {
  const tried: string[] = [];
  if (name.includes('/') || /\.m?js$/.test(name)) {
    const abs = path.resolve(baseDir, name);
    for (const p of [abs, ...CANDIDATES.map((c) => abs + c)]) {
      tried.push(p);
      if (isFile(p)) return p;
    }
  } else {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new ModuleLoadError(`invalid module name '${name}'`);
    for (const dir of [...searchPath, BUILTIN_MODULE_DIR]) {
      for (const c of CANDIDATES) {
        const p = path.join(dir, name + c);
        tried.push(p);
        if (isFile(p)) return p;
      }
    }
  }
  const gnu = Object.hasOwn(GNU_ONLY_MODULES, name) ? GNU_ONLY_MODULES[name] : undefined;
  if (gnu !== undefined) {
    throw new ModuleLoadError(`module '${name}' is a GNU Smap module that smapd does not have: ${gnu} (see docs/migrating.md)`);
  }
  throw new ModuleLoadError(`module '${name}' not found (tried ${tried.join(', ')})`);
}

/** GNU Smap's modules that have no smapd counterpart, with what to use instead. */
const GNU_ONLY_MODULES: Readonly<Record<string, string>> = Object.freeze({
  guile: 'write the module in JavaScript or TypeScript instead (docs/modules.md)',
  mailutils: 'for mailbox and user lookups use the sqlite, mysql, postgres or ldap module, or a JavaScript module',
});

const CAPABILITIES: readonly Capability[] = ['query', 'transform'];

/** Check that an imported value is a usable module; the message says what is wrong. */
export function validateModule(value: unknown, file: string): SmapModule {
  const fail = (why: string): never => {
    throw new ModuleLoadError(`${file}: not a smapd module: ${why}`);
  };
  if (typeof value !== 'object' || value === null) fail('the default export must be a module object');
  const m = value as Partial<SmapModule> & Record<string, unknown>;
  if (typeof m.apiVersion !== 'number') fail('apiVersion is missing');
  if (m.apiVersion! > MODULE_API_VERSION || m.apiVersion! < 1) {
    fail(`apiVersion ${m.apiVersion} is not supported (this smapd supports 1 to ${MODULE_API_VERSION})`);
  }
  if (!Array.isArray(m.capabilities) || m.capabilities.length === 0) fail('capabilities must be a non-empty array');
  for (const c of m.capabilities!) if (!CAPABILITIES.includes(c)) fail(`unknown capability '${String(c)}'`);
  if (typeof m.initDb !== 'function') fail('initDb() is missing');
  if (m.capabilities!.includes('query') && typeof m.query !== 'function') fail("capability 'query' without query()");
  if (m.capabilities!.includes('transform') && typeof m.transform !== 'function') {
    fail("capability 'transform' without transform()");
  }
  for (const f of ['init', 'openDb', 'closeDb', 'done'] as const) {
    if (m[f] !== undefined && typeof m[f] !== 'function') fail(`${f} must be a function`);
  }
  return m as SmapModule;
}

/** Import a module file and validate its default export (or a named `module` export). */
export async function importModule(file: string): Promise<SmapModule> {
  let ns: Record<string, unknown>;
  // So that the module can import `smapd/module` from anywhere, and gets this smapd's API.
  registerApiResolution();
  try {
    ns = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ModuleLoadError(`${file}: cannot load: ${(err as Error).message}`, { cause: err });
  }
  return validateModule(ns.default ?? ns.module, file);
}
