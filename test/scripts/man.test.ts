/** The man pages made at build time: each renders with groff's warnings on and none printed, and says what it is. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MAN_PAGES, renderManPage } from '../../scripts/man.js';
import { repoRoot } from '../helpers/paths.js';

const built = path.join(repoRoot, 'dist', 'man');
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { man: string[] };

function render(file: string): { out: string; err: string; status: number | null } {
  // man -l with warnings when man is there (as an administrator reads it), groff -man otherwise.
  const viaMan = spawnSync('man', ['--warnings=all', '-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat', LANG: 'C.UTF-8' } });
  if (viaMan.error === undefined) return { out: viaMan.stdout, err: viaMan.stderr, status: viaMan.status };
  const g = spawnSync('groff', ['-man', '-Tutf8', '-ww', file], { encoding: 'utf8' });
  if (g.error !== undefined) throw new Error('neither man nor groff can be run: the man page test needs groff (Debian: groff-base)');
  return { out: g.stdout, err: g.stderr, status: g.status };
}

describe('man pages', () => {
  it('are declared in package.json and built by npm run build', () => {
    assert.deepEqual(
      pkg.man,
      MAN_PAGES.map((p) => `./dist/man/${p.name}.${p.section}`),
    );
    for (const p of MAN_PAGES) assert.ok(existsSync(path.join(built, `${p.name}.${p.section}`)), `${p.name}.${p.section} built`);
  });

  for (const page of MAN_PAGES) {
    it(`${page.name}(${page.section}) renders without warnings, with NAME, every section of ${page.source}, and SEE ALSO`, () => {
      const file = path.join(built, `${page.name}.${page.section}`);
      const r = render(file);
      assert.equal(r.status, 0);
      assert.equal(r.err, '', `warnings from ${file}`);
      assert.match(r.out, new RegExp(`NAME\\n\\s+${page.name.replace('.', '\\.')} - \\S`));
      assert.match(r.out, /SEE ALSO/);
      const md = readFileSync(path.join(repoRoot, page.source), 'utf8');
      for (const m of md.matchAll(/^## (.+)$/gm)) {
        const title = m[1]!.replace(/`/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toUpperCase();
        assert.ok(r.out.includes(title), `section "${title}" of ${page.source}`);
      }
    });
  }

  it('escapes what roff would read as requests or escapes', () => {
    const md = '# x: y\n\nText with a back\\\\slash and\n.dot at a line start and a - dash.\n\n| A | B |\n|---|---|\n| `.x` | \'quote |\n';
    const roff = renderManPage({ name: 'x', section: 1, source: 'x.md' }, md, '2026-01-01');
    assert.match(roff, /back\\eslash/);
    assert.doesNotMatch(roff, /^\.dot/m);
    assert.doesNotMatch(roff, /^'quote/m);
    assert.match(roff, /\\-/);
  });
});
