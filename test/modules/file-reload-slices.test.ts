/**
 * A reload of a big `file` map parses in slices on the event loop: lookups keep being answered, from the old
 * map, while the new one is read, and the new one replaces it whole. Counted in lines parsed between two
 * lookups, not in milliseconds: with the 1 MiB slices of before, a lookup waited for some 18,000 lines.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileMapStore } from '../../modules/file/store.js';
import { silentLogger } from '../helpers/module-context.js';

const LINES = 40000;

function mapText(version: string): string {
  const out: string[] = [];
  for (let i = 0; i < LINES; i++) out.push(`user${i}@example${i % 97}.org\t${version}-destination-${i}@mail.example.net`);
  return out.join('\n') + '\n';
}

describe('file map reload in slices', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'smapd-slices-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers lookups from the old map on many loop turns while the new map is parsed', async () => {
    const file = path.join(dir, 'big.map');
    await writeFile(file, mapText('old'));
    // Lines parsed since the last lookup ran, and the most of them any lookup waited for.
    let run = 0;
    let longestRun = 0;
    const count = (_k: string, v: string): string => {
      run++;
      return v;
    };
    const store = new FileMapStore(file, { store: count }, 0, silentLogger);
    try {
      await store.open();
      assert.equal(store.entries?.size, LINES);
      const next = file + '.new';
      await writeFile(next, mapText('new'));
      await rename(next, file);

      run = 0;
      let done = false;
      const seen = new Set<string | undefined>();
      let answered = 0;
      // A lookup on every turn of the loop until the reload has finished.
      const lookups = new Promise<void>((resolve) => {
        const ask = (): void => {
          if (done) return resolve();
          seen.add(store.entries?.get('user123@example26.org'));
          answered++;
          longestRun = Math.max(longestRun, run);
          run = 0;
          setImmediate(ask);
        };
        setImmediate(ask);
      });
      const result = await store.checkNow();
      done = true;
      await lookups;
      assert.equal(result, 'reloaded');
      assert.ok(answered >= 10, `only ${answered} lookups were answered during the reload of a ${LINES}-line map`);
      // One 64 KiB slice holds about 1,150 of these lines; the loop must turn after each.
      assert.ok(longestRun > 0 && longestRun <= 2000, `a lookup waited while ${longestRun} lines were parsed`);
      // Each lookup saw one whole version: the old one until the swap.
      assert.deepEqual([...seen], ['old-destination-123@mail.example.net']);
      assert.equal(store.entries?.get('user123@example26.org'), 'new-destination-123@mail.example.net');
      assert.equal(store.entries?.size, LINES);
    } finally {
      store.close();
    }
  });
});
