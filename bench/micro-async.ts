/**
 * `node dist/bench/micro-async.js`: CPU per asynchronous lookup through DatabaseHandleImpl (a module that
 * answers `Promise.resolve(reply)`, a 5 s timeout, 16 lookups in flight), median of 7 rounds of 400,000.
 * What the async path itself costs (deadline, contract checks, the hand-over), without sockets.
 */
import { pino } from 'pino';
import { Deferred, defineModule, type ConnInfo } from '../src/modules/api.js';
import { DatabaseHandleImpl } from '../src/modules/handle.js';
import * as R from '../src/protocol/reply.js';

const mod = defineModule<null>({ apiVersion: 1, capabilities: ['query'], initDb: () => null, query: (_db, _map, key) => Promise.resolve(R.ok(key)) });
const h = new DatabaseHandleImpl('db', 'm', mod, null, pino({ level: 'silent' }), 5000, undefined);
const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };

/**
 * `n` lookups one after the other, each asked when the one before has answered, the answer taken as the
 * connection takes it: by `whenSettled` from the handle's Deferred (no promise), else by `then`.
 */
function caller(n: number): Promise<void> {
  return new Promise((done) => {
    let left = n;
    const next = (): void => {
      if (left-- === 0) return done();
      const r = h.query('m', 'k', conn);
      if (typeof r === 'string') queueMicrotask(next);
      else if (r instanceof Deferred) r.whenSettled(next, next);
      else r.then(next, next);
    };
    next();
  });
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
