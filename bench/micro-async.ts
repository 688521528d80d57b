/**
 * `node dist/bench/micro-async.js`: CPU per asynchronous lookup through DatabaseHandleImpl (a module that
 * answers `Promise.resolve(reply)`, a 5 s timeout, 16 lookups in flight), median of 7 rounds of 400,000.
 * What the async path itself costs (deadline, promise, contract checks), without sockets.
 */
import { pino } from 'pino';
import { defineModule, type ConnInfo } from '../src/modules/api.js';
import { DatabaseHandleImpl } from '../src/modules/handle.js';
import * as R from '../src/protocol/reply.js';

const mod = defineModule<null>({ apiVersion: 1, capabilities: ['query'], initDb: () => null, query: (_db, _map, key) => Promise.resolve(R.ok(key)) });
const h = new DatabaseHandleImpl('db', 'm', mod, null, pino({ level: 'silent' }), 5000, undefined);
const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };

async function caller(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await h.query('m', 'k', conn);
}

async function round(n: number): Promise<number> {
  const t = process.cpuUsage();
  await Promise.all(Array.from({ length: 16 }, () => caller(n / 16)));
  const d = process.cpuUsage(t);
  return ((d.user + d.system) * 1000) / n;
}

await round(200_000);
const ns: number[] = [];
for (let r = 0; r < 7; r++) ns.push(await round(400_000));
ns.sort((a, b) => a - b);
process.stdout.write(`async lookup: ${ns[3]!.toFixed(0)} ns CPU median (rounds: ${ns.map((x) => x.toFixed(0)).join(' ')})\n`);
