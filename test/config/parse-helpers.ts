/** Shared helpers for the config tests: parse text from a fixed virtual file and collect error messages. */
import assert from 'node:assert/strict';
import { ConfigErrors } from '../../src/errors.js';
import { parseConfigText } from '../../src/config/parser.js';
import type { SmapdConfig } from '../../src/config/types.js';

export const FILE = '/etc/smapd/smapd.conf';

export function parse(text: string): SmapdConfig {
  return parseConfigText(text, FILE);
}

/** The messages of the ConfigErrors that parsing `text` must throw. */
export function errorsOf(text: string, file = FILE): string[] {
  try {
    parseConfigText(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, `expected ConfigErrors, got ${String(err)}`);
    for (const e of err.errors) assert.ok(e.loc === undefined || e.message.startsWith(`${e.loc.file}:${e.loc.line}: `));
    return err.errors.map((e) => e.message);
  }
  assert.fail('expected the config to be rejected');
}

/** The single error message for `text`, without the `file:line: ` prefix, which must be line `line`. */
export function errorAt(text: string, line: number): string {
  const errors = errorsOf(text);
  assert.equal(errors.length, 1, `expected one error, got: ${errors.join(' | ')}`);
  const prefix = `${FILE}:${line}: `;
  assert.ok(errors[0]!.startsWith(prefix), `expected '${prefix}…', got '${errors[0]}'`);
  return errors[0]!.slice(prefix.length);
}
