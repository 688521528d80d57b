/**
 * `node dist/bench/micro-client.js PORT`: CPU per lookup of one SmapClient (coalesce 'turn', as the sockmap
 * module uses it) with 16 callers against a sockmap server on 127.0.0.1:PORT that knows the bench keys
 * (e.g. `node dist/bench/baseline.js MAPFILE`, which prints its port), median of 5 rounds of 64,000.
 */
import { SmapClient } from '../src/client/client.js';

const port = Number(process.argv[2]);
const c = await SmapClient.connect({ url: `inet://127.0.0.1:${port}`, timeoutMs: 10_000, coalesce: 'turn' });

async function caller(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await c.query('bench', `user${String(1 + ((i * 7919) % 100_000)).padStart(6, '0')}@example.com`);
}

async function round(n: number): Promise<[number, number]> {
  const t = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 16 }, () => caller(n / 16)));
  const d = process.cpuUsage(t);
  return [(d.user + d.system) / n, n / ((performance.now() - t0) / 1000)];
}

await round(32_000);
const rs: Array<[number, number]> = [];
for (let r = 0; r < 5; r++) rs.push(await round(64_000));
rs.sort((a, b) => a[0] - b[0]);
process.stdout.write(`client: ${rs[2]![0].toFixed(2)} µs CPU per lookup (median), ${Math.round(rs[2]![1])} lookups/s\n`);
await c.close();
