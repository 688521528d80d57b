/**
 * The lookup latency histogram: its buckets, and `smapd_db_lookup_duration_seconds` on a running smapd with
 * `workers 2`, a real SQLite map and a real MariaDB query, summed by the primary from both workers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SmapClient } from '../../src/client/client.js';
import { LATENCY_BUCKETS_SECONDS, LatencyHistogram, mergeLatency } from '../../src/metrics/latency.js';
import { parseExposition, type Family } from './exposition-parser.js';
import { httpGet } from '../helpers/http-get.js';
import { killStartedSmapds, startSmapdProcess } from '../helpers/spawned.js';

describe('LatencyHistogram', () => {
  it('counts each duration in the first bucket whose bound it does not exceed, and sums in seconds', () => {
    const h = new LatencyHistogram();
    h.observe(0.01); // 10 µs: first bucket (le 50 µs)
    h.observe(0.05); // exactly 50 µs: still the first (le is inclusive)
    h.observe(0.3); // 300 µs: le 0.0005
    h.observe(30); // 30 ms: le 0.05
    h.observe(60_000); // a minute: +Inf
    const s = h.snapshot();
    assert.equal(s.counts.length, LATENCY_BUCKETS_SECONDS.length + 1);
    assert.equal(s.counts[0], 2);
    assert.equal(s.counts[LATENCY_BUCKETS_SECONDS.indexOf(0.0005)], 1);
    assert.equal(s.counts[LATENCY_BUCKETS_SECONDS.indexOf(0.05)], 1);
    assert.equal(s.counts[LATENCY_BUCKETS_SECONDS.length], 1);
    assert.equal(s.count, 5);
    assert.ok(Math.abs(s.sum - 60.03036) < 1e-9, String(s.sum));
    const merged = mergeLatency(s, s)!;
    assert.equal(merged.count, 10);
    assert.equal(merged.counts[0], 4);
    assert.equal(mergeLatency(undefined, s), s);
  });
});

describe('smapd_db_lookup_duration_seconds on a running daemon with workers 2', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-latency-'));
  });
  after(async () => {
    await killStartedSmapds();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The histogram samples of one database: bucket counts by `le`, the sum and the count. */
  function histogramOf(f: Family, db: string): { buckets: Map<string, number>; sum: number; count: number } {
    const own = f.samples.filter((s) => s.labels['db'] === db);
    const buckets = new Map(own.filter((s) => s.name.endsWith('_bucket')).map((s) => [s.labels['le']!, s.value]));
    return { buckets, sum: own.find((s) => s.name.endsWith('_sum'))!.value, count: own.find((s) => s.name.endsWith('_count'))!.value };
  }

  it('counts every lookup of each database in its buckets, summed over the workers', async () => {
    const mapFile = path.join(dir, 'map.db');
    const sq = new Database(mapFile);
    sq.exec('CREATE TABLE map (key TEXT PRIMARY KEY, value TEXT)');
    sq.prepare('INSERT INTO map VALUES (?, ?)').run('alice', 'alice@example.org');
    sq.close();
    const sock = path.join(dir, 's.sock');
    const conf = path.join(dir, 'smapd.conf');
    writeFileSync(
      conf,
      [
        'workers 2',
        'metrics-listen 127.0.0.1:0',
        `server u unix://${sock}`,
        'module sqlite sqlite',
        'module mysql mysql',
        `database fast sqlite file=${mapFile}`,
        // At least 30 ms per lookup, on the server: these can never land in a bucket below 50 ms.
        `database slow mysql config-file= host=127.0.0.1 user=root database=test "query=SELECT CONCAT('slow-', $key) FROM (SELECT SLEEP(0.03)) AS s"`,
        'dispatch map eq slow database slow',
        'dispatch default database fast',
        '',
      ].join('\n'),
    );
    const p = startSmapdProcess(conf);
    let log = '';
    p.stderr!.on('data', (d) => (log += d));
    const until = Date.now() + 20000;
    while (!log.includes('smapd started') || !/"metrics listening"/.test(log)) {
      if (Date.now() > until || p.exitCode !== null) throw new Error(`smapd did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const port = Number(/"port":(\d+)[^\n]*"metrics listening"|"metrics listening"[^\n]*"port":(\d+)/.exec(log)!.slice(1).find((x) => x !== undefined));

    // New connections go round-robin to both workers.
    const N = 12;
    for (let i = 0; i < N; i++) {
      const c = await SmapClient.connect({ url: `unix://${sock}`, timeoutMs: 10000 });
      assert.equal(await c.query('aliases', i % 2 === 0 ? 'alice' : 'bob'), i % 2 === 0 ? 'OK alice@example.org' : 'NOTFOUND ');
      if (i < 4) assert.equal(await c.query('slow', `k${i}`), `OK slow-k${i}`);
      await c.close();
    }

    // The primary polls the workers once a second.
    let f: Family | undefined;
    for (let i = 0; i < 100; i++) {
      f = parseExposition((await httpGet(port, '/metrics')).body).get('smapd_db_lookup_duration_seconds');
      if (f !== undefined && f.samples.some((s) => s.labels['db'] === 'fast') && histogramOf(f, 'fast').count === N && histogramOf(f, 'slow').count === 4) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(f?.type, 'histogram');
    const fast = histogramOf(f!, 'fast');
    const slow = histogramOf(f!, 'slow');
    assert.equal(fast.count, N);
    assert.equal(fast.buckets.get('+Inf'), N);
    assert.deepEqual([...fast.buckets.keys()], [...LATENCY_BUCKETS_SECONDS.map(String), '+Inf']);
    const values = [...fast.buckets.values()];
    assert.ok(values.every((v, i) => i === 0 || v >= values[i - 1]!), 'buckets are cumulative');
    assert.ok(fast.sum > 0);
    assert.equal(slow.count, 4);
    assert.equal(slow.buckets.get('0.025'), 0, 'a 30 ms lookup is not counted under 25 ms');
    assert.equal(slow.buckets.get('+Inf'), 4);
    assert.ok(slow.sum >= 4 * 0.03, `sum ${slow.sum}`);

    const exited = new Promise<number | null>((r) => p!.once('exit', r));
    p.kill('SIGTERM');
    assert.equal(await exited, 0, log);
  });
});
