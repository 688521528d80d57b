/**
 * The module wing has one door. Built-in modules import only the public module API (`src/modules/api.ts`,
 * published as `smapd/module`), besides each other, Node's built-ins and the package's dependencies; so a
 * third-party module can do whatever a built-in does. And the core never imports a module.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { repoRoot } from '../helpers/paths.js';

const API = path.join(repoRoot, 'src', 'modules', 'api.ts');
const MODULES = path.join(repoRoot, 'modules');
const SRC = path.join(repoRoot, 'src');
const EXAMPLES = path.join(repoRoot, 'docs', 'examples');

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
const DEPENDENCIES = new Set(Object.keys(pkg.dependencies ?? {}));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Every module specifier a file names: static imports and re-exports (types included), and `import()`. */
function specifiers(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/** The source file a relative specifier stands for (`./x.js` is compiled from `./x.ts`). */
function resolveRelative(from: string, spec: string): string {
  return path.resolve(path.dirname(from), spec).replace(/\.js$/, '.ts');
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** What a file outside the core may import: the API, files beside it in `home`, Node, dependencies. */
function doorViolations(files: readonly string[], home: string | null): string[] {
  const bad: string[] = [];
  for (const file of files) {
    for (const spec of specifiers(file)) {
      const where = `${path.relative(repoRoot, file)} imports '${spec}'`;
      if (spec.startsWith('.')) {
        const target = resolveRelative(file, spec);
        if (target === API || (home !== null && isInside(home, target))) continue;
        bad.push(`${where}, which is past the module API (src/modules/api.ts)`);
      } else if (spec === 'smapd/module' || spec.startsWith('node:') || builtinModules.includes(spec)) {
        continue;
      } else if (!DEPENDENCIES.has(packageName(spec))) {
        bad.push(`${where}, which is not a dependency of smapd`);
      }
    }
  }
  return bad;
}

describe('the module door', () => {
  it('built-in modules import nothing of smapd but the module API', () => {
    const files = tsFiles(MODULES);
    assert.ok(files.length > 10, `found the built-in modules (${files.length} files)`);
    assert.deepEqual(doorViolations(files, MODULES), []);
  });

  it('the documented example module imports only smapd/module', () => {
    const files = tsFiles(EXAMPLES);
    assert.ok(files.length > 0);
    const bad = files.flatMap((f) => specifiers(f).filter((s) => s.startsWith('.') || (!s.startsWith('node:') && s !== 'smapd/module')));
    assert.deepEqual(bad, []);
  });

  it('the core never imports a module', () => {
    const bad: string[] = [];
    for (const file of tsFiles(SRC)) {
      for (const spec of specifiers(file)) {
        if (spec.startsWith('.') && isInside(MODULES, resolveRelative(file, spec))) {
          bad.push(`${path.relative(repoRoot, file)} imports '${spec}'`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });

  it('catches an import that reaches past the door', () => {
    const bad = doorViolations([path.join(SRC, 'cli', 'makemap.ts')], MODULES);
    assert.ok(bad.some((b) => /imports '\.\.\/errors\.js', which is past the module API/.test(b)), bad.join('\n'));
  });
});
