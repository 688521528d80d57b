/** The eviction choice and the rate-limited warning, without sockets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseVictim, type Seat } from '../../src/server/eviction.js';
import { RateLimitedWarning } from '../../src/server/rate-log.js';
import { capture } from '../helpers/capture-log.js';
import { waitFor } from '../helpers/wait.js';

const seat = (address: string, evictable: boolean, lastProgress: number): Seat & { id: string } => ({
  id: `${address}@${lastProgress}`,
  address,
  evictable,
  lastProgress,
});

describe('chooseVictim', () => {
  it('takes the least recently useful idle connection of the address holding the most', () => {
    const seats = [seat('10.0.0.1', true, 5), seat('10.0.0.2', true, 9), seat('10.0.0.2', true, 7), seat('10.0.0.2', false, 1)];
    assert.equal(chooseVictim(seats)?.id, '10.0.0.2@7');
  });

  it('passes over an address whose connections are all at a backend', () => {
    const seats = [seat('10.0.0.2', false, 1), seat('10.0.0.2', false, 2), seat('10.0.0.2', false, 3), seat('10.0.0.1', true, 8)];
    assert.equal(chooseVictim(seats)?.id, '10.0.0.1@8');
  });

  it('breaks a tie in count by age, and finds nothing when nothing may be closed', () => {
    assert.equal(chooseVictim([seat('a', true, 5), seat('b', true, 3)])?.id, 'b@3');
    assert.equal(chooseVictim([seat('a', false, 5), seat('b', false, 3)]), undefined);
    assert.equal(chooseVictim([]), undefined);
  });
});

describe('RateLimitedWarning', () => {
  it('logs the first at once, then one line per interval with the count, and nothing once it is quiet', async () => {
    const { log, lines } = capture();
    const w = new RateLimitedWarning(log, 'refused', 100);
    const msgs = () => lines().map((l) => [l.msg, l.repeated]);
    for (let i = 0; i < 50; i++) w.note({ n: i });
    assert.deepEqual(msgs(), [['refused', undefined]]);
    await waitFor(() => lines().length === 2, 'the summary line');
    assert.deepEqual(msgs()[1], ['refused (49 more since the last such line)', 49]);
    assert.equal(lines()[1]!.n, 49, 'the summary carries the fields of the last one');
    // The flood goes on: counted into the next interval, not logged one by one.
    w.note({ n: 50 });
    w.note({ n: 51 });
    assert.equal(lines().length, 2);
    await waitFor(() => lines().length === 3, 'the second summary');
    assert.equal(lines()[2]!.repeated, 2);
    // Quiet for an interval: the window closes, and the next one is logged at once.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(lines().length, 3);
    w.note({ n: 52 });
    assert.deepEqual(msgs()[3], ['refused', undefined]);
    w.close();
  });

  it('logs at the level it was made with (a cluster with no worker ready logs errors)', async () => {
    const { log, lines } = capture();
    const w = new RateLimitedWarning(log, 'no worker ready; closing connection', 50, 'error');
    for (let i = 0; i < 5; i++) w.note({ server: 's' });
    await waitFor(() => lines().length === 2, 'the summary line');
    assert.deepEqual(lines().map((l) => [l.level, l.repeated]), [[50, undefined], [50, 4]]);
    w.close();
  });
});
