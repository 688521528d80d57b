import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { escapeLabelValue, renderMetrics } from '../../src/metrics/exposition.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server.js';
import { ListenError } from '../../src/errors.js';
import { silentLogger } from '../helpers/module-context.js';
import { makeFixture, type Fixture } from '../control/fixture.js';
import { parseExposition, valueOf } from './exposition-parser.js';
import { httpRequest as request } from '../helpers/http-get.js';

let fx: Fixture;
let server: MetricsServer;
before(async () => {
  fx = await makeFixture();
  server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, fx.target, silentLogger);
});
after(async () => {
  await server.close();
  await fx.close();
});

describe('metrics endpoint', () => {
  it('binds where configured and reports the real port', () => {
    assert.equal(server.address.host, '127.0.0.1');
    assert.ok(server.address.port > 0);
  });

  it('serves the counters in Prometheus text format', async () => {
    await fx.query('lookup', 'k1');
    await fx.query('lookup', 'k1');
    await fx.query('lookup', 'zzz');
    await fx.query('lookup', 'fail');
    await fx.databases.get('mem')!.command('bind', ['alice', 'a@example.org']);
    await fx.query('mem', 'alice');
    fx.stats.connectionsTotal = 3;
    fx.stats.connectionsOpen = 1;
    fx.stats.connectionsRejected = 2;
    fx.stats.protocolErrors = 4;
    fx.stats.connectionsEvicted = 5;
    fx.stats.connectionsStalled = 1;
    fx.stats.requestTimeouts = 6;

    const res = await request(server.address.port, '/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const m = parseExposition(res.body);

    assert.equal(m.get('smapd_requests_total')!.type, 'counter');
    assert.equal(m.get('smapd_connections_open')!.type, 'gauge');
    assert.equal(valueOf(m, 'smapd_requests_total'), 5);
    assert.equal(valueOf(m, 'smapd_connections_total'), 3);
    assert.equal(valueOf(m, 'smapd_connections_open'), 1);
    assert.equal(valueOf(m, 'smapd_connections_rejected_total'), 2);
    assert.equal(valueOf(m, 'smapd_protocol_errors_total'), 4);
    assert.equal(valueOf(m, 'smapd_connections_evicted_total'), 5);
    assert.equal(m.get('smapd_connections_stalled')!.type, 'gauge');
    assert.equal(valueOf(m, 'smapd_connections_stalled'), 1);
    assert.equal(valueOf(m, 'smapd_request_timeouts_total'), 6);
    assert.equal(valueOf(m, 'smapd_replies_total', { status: 'OK' }), 3);
    assert.equal(valueOf(m, 'smapd_replies_total', { status: 'NOTFOUND' }), 1);
    assert.equal(valueOf(m, 'smapd_replies_total', { status: 'TEMP' }), 1);
    assert.equal(valueOf(m, 'smapd_replies_total', { status: 'PERM' }), 0);
    assert.ok(valueOf(m, 'smapd_uptime_seconds')! >= 0);
    assert.ok(Math.abs(valueOf(m, 'smapd_start_time_seconds')! - fx.stats.startedAt / 1000) < 0.001);
    assert.equal(m.get('smapd_build_info')!.samples[0]!.value, 1);

    assert.equal(valueOf(m, 'smapd_db_queries_total', { db: 'lookup' }), 4);
    assert.equal(valueOf(m, 'smapd_db_errors_total', { db: 'lookup' }), 1);
    assert.equal(valueOf(m, 'smapd_db_timeouts_total', { db: 'lookup' }), 0);
    assert.equal(valueOf(m, 'smapd_db_queries_total', { db: 'mem' }), 1);
    assert.equal(valueOf(m, 'smapd_db_open', { db: 'mem' }), 1);
    assert.equal(valueOf(m, 'smapd_cache_hits_total', { db: 'lookup' }), 1);
    assert.equal(valueOf(m, 'smapd_cache_misses_total', { db: 'lookup' }), 3);
    assert.equal(valueOf(m, 'smapd_cache_entries', { db: 'lookup' }), 2, 'k1 and zzz; the failure is not cached');
    assert.ok(valueOf(m, 'smapd_cache_bytes', { db: 'lookup' })! > 0);
    assert.equal(valueOf(m, 'smapd_cache_admitted_total', { db: 'lookup' }), 2, 'the cache had room: both answers kept');
    assert.equal(valueOf(m, 'smapd_cache_declined_total', { db: 'lookup' }), 0);
    assert.equal(valueOf(m, 'smapd_cache_admit_one_in', { db: 'lookup' }), 1);
    // A database without a cache has no cache samples at all, rather than misleading zeros.
    assert.equal(valueOf(m, 'smapd_cache_hits_total', { db: 'mem' }), undefined);
    for (const [name, f] of m) assert.ok(f.help.length > 0, `${name} has help text`);
  });

  it('serves the standard process metrics: CPU, memory, file descriptors, event-loop delay', async () => {
    // Block the loop for 150 ms between two scrapes: the delay since the first scrape shows it.
    await request(server.address.port, '/metrics');
    const until = Date.now() + 150;
    while (Date.now() < until) {
      /* busy: the event loop is blocked */
    }
    const m = parseExposition((await request(server.address.port, '/metrics')).body);
    const rss = valueOf(m, 'process_resident_memory_bytes')!;
    assert.ok(rss > 10e6 && rss < 4e9, `rss ${rss}`);
    assert.equal(m.get('process_resident_memory_bytes')!.type, 'gauge');
    assert.equal(m.get('process_cpu_seconds_total')!.type, 'counter');
    assert.ok(valueOf(m, 'process_cpu_seconds_total')! > 0);
    const fds = valueOf(m, 'process_open_fds')!;
    assert.ok(fds >= 3 && fds <= valueOf(m, 'process_max_fds')!, `fds ${fds}`);
    assert.ok(Math.abs(valueOf(m, 'process_start_time_seconds')! - (Date.now() / 1000 - process.uptime())) < 2);
    assert.ok(valueOf(m, 'nodejs_heap_size_used_bytes')! > 0);
    assert.ok(valueOf(m, 'nodejs_eventloop_lag_max_seconds')! >= 0.12, `lag max ${valueOf(m, 'nodejs_eventloop_lag_max_seconds')}`);
    assert.ok(valueOf(m, 'nodejs_eventloop_lag_p99_seconds')! <= valueOf(m, 'nodejs_eventloop_lag_max_seconds')!);
    const quiet = parseExposition((await request(server.address.port, '/metrics')).body);
    assert.ok(valueOf(quiet, 'nodejs_eventloop_lag_max_seconds')! < 0.12, 'each scrape covers the time since the previous one');
  });

  it('escapes label values', () => {
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
    const odd = 'we"ird\\name\nx';
    const dbs = new Map(fx.databases);
    dbs.set(odd, fx.databases.get('mem')!);
    const m = parseExposition(renderMetrics({ ...fx.target, databases: () => dbs }));
    assert.equal(valueOf(m, 'smapd_db_queries_total', { db: odd }), valueOf(m, 'smapd_db_queries_total', { db: 'mem' }));
  });

  it('answers /health with ok, and 503 once the daemon is stopping', async () => {
    const ok = await request(server.address.port, '/health');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'ok\n');
    fx.stopping = true;
    try {
      const down = await request(server.address.port, '/health');
      assert.equal(down.status, 503);
      assert.equal(down.body, 'stopping\n');
    } finally {
      fx.stopping = false;
    }
  });

  it('answers 404 for other paths, 405 for other methods, and HEAD without a body', async () => {
    const nf = await request(server.address.port, '/');
    assert.equal(nf.status, 404);
    assert.match(nf.body, /try \/metrics or \/health/);
    const post = await request(server.address.port, '/metrics', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
    const head = await request(server.address.port, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.ok(Number(head.headers['content-length']) > 0);
    const q = await request(server.address.port, '/health?probe=1');
    assert.equal(q.status, 200);
  });

  it('reports an address it cannot bind, and closes', async () => {
    await assert.rejects(startMetricsServer({ host: '127.0.0.1', port: server.address.port }, fx.target, silentLogger), (err: Error) => {
      assert.ok(err instanceof ListenError);
      assert.match(err.message, /^metrics-listen 127\.0\.0\.1:\d+: cannot listen: .*EADDRINUSE/);
      return true;
    });
    const other = await startMetricsServer({ host: '127.0.0.1', port: 0 }, fx.target, silentLogger);
    const port = other.address.port;
    assert.equal((await request(port, '/health')).status, 200);
    await other.close();
    await assert.rejects(request(port, '/health'), /ECONNREFUSED/);
  });
});
