/**
 * Keyword tables are object literals; a config word that names a member of Object.prototype (`constructor`,
 * `toString`, `__proto__`, `hasOwnProperty`) must be an unknown word, never a keyword.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDebugSpec } from '../../src/config/logging.js';
import { compileRegexp } from '../../src/dispatch/regexp.js';
import { PatternError } from '../../src/errors.js';
import { errorAt, parse } from './parse-helpers.js';
import { fixture } from '../helpers/paths.js';

const PROTO_WORDS = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

describe('config keywords are own properties only', () => {
  for (const word of PROTO_WORDS) {
    it(`'${word} x' is an unrecognized statement`, () => {
      assert.match(errorAt(`${word} x`, 1), new RegExp(`^unrecognized statement '${word}'`));
    });

    it(`'${word}' is not a server block statement`, () => {
      assert.match(errorAt(`server s inet://127.0.0.1:0 begin\n${word} 5\nend`, 2), new RegExp(`^'${word}' is not allowed in a server block`));
    });

    it(`'${word}' is not a database block statement`, () => {
      const text = `module m echo\ndatabase d m begin\n${word} 5\nend`;
      assert.match(errorAt(text, 3), new RegExp(`^'${word}' is not allowed in a database block`));
    });

    it(`'dispatch map ${word} x …' reads ${word} as a map name, and x as an unknown condition`, () => {
      assert.match(errorAt(`dispatch map ${word} x database d`, 1), /^unknown dispatch condition 'x'/);
      const rule = parse(`dispatch map ${word} database d`).rules[0]!;
      assert.deepEqual(rule.conditions.map((c) => (c.kind === 'map' ? [c.op, c.pattern] : c.kind)), [['eq', word]]);
    });

    it(`'log-level ${word}' is an unknown level`, () => {
      assert.match(errorAt(`log-level ${word}`, 1), new RegExp(`^unknown log level '${word}'`));
    });

    it(`'debug ${word}' (when a valid category name) is a plain category of its own`, () => {
      if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(word)) return;
      const spec = parseDebugSpec([`${word}.3`], { file: 'x', line: 1 });
      assert.ok(Object.hasOwn(spec, word));
      assert.equal(spec[word], 3);
      assert.deepEqual(Object.keys(spec), [word]);
    });

    it(`the bracket class [:${word}:] is unknown`, () => {
      assert.throws(() => compileRegexp(`/[[:${word}:]]/`), (e: unknown) => e instanceof PatternError && /unknown character class/.test(e.message));
    });
  }
});

describe('smapd -t with a prototype word in a dispatch rule', () => {
  const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'smapd-proto-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('rejects `dispatch map constructor x database d` with file:line and exit 78', async () => {
    const file = path.join(dir, 'smapd.conf');
    writeFileSync(file, `prepend-load-path ${fixture('modules')}\nmodule t testmod\ndatabase d t\ndispatch map constructor x database d\n`);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [SMAPD, '-t', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    assert.equal(code, 78, stderr);
    assert.match(stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: unknown dispatch condition 'x'`));
  });
});
