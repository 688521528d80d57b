/**
 * The POSIX pattern engine is a leaf: it imports nothing from smapd but the error catalogue, so dispatch and
 * modules can share it without it ever reaching back into either. The sed module reaches it only through
 * the module API.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/paths.js';

/** The module specifiers a TypeScript file imports or re-exports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]!);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

describe('src/posix is a leaf folder', () => {
  it('imports only its own files, the error catalogue and the engine package', () => {
    const files = tsFiles(path.join(repoRoot, 'src', 'posix'));
    assert.ok(files.length >= 4, 'the folder holds the engine');
    for (const file of files) {
      for (const spec of importsOf(file)) {
        const ok = /^\.\/[a-z-]+\.js$/.test(spec) || spec === '../errors.js' || spec === 're2js';
        assert.ok(ok, `${path.relative(repoRoot, file)} imports ${spec}`);
      }
    }
  });

  it('is what the sed module uses, through the module API only', () => {
    for (const file of tsFiles(path.join(repoRoot, 'modules', 'sed'))) {
      for (const spec of importsOf(file)) {
        const ok = /^\.\/[a-z-]+\.js$/.test(spec) || spec === '../../src/modules/api.js';
        assert.ok(ok, `${path.relative(repoRoot, file)} imports ${spec}`);
      }
    }
  });
});
