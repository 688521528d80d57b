/**
 * The database handle holds modules to the API contract: only a Reply is sent, a BackendTimeoutError is
 * TIMEOUT, every hook has a deadline, clients see short reasons (the detail is logged), and a fault that
 * escapes a module resets its database.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError, BackendTimeoutError, defineModule, type ConnInfo, type Reply } from '../../src/modules/api.js';
import { DatabaseHandleImpl } from '../../src/modules/handle.js';
import { currentScope, type ModuleScope } from '../../src/modules/scope.js';
import * as R from '../../src/protocol/reply.js';
import { capture } from '../helpers/capture-log.js';

const conn: ConnInfo = { serverId: 's', family: 'inet', src: '127.0.0.1', srcPort: 1, dst: '127.0.0.1', dstPort: 2 };

interface State {
  opens: number;
  closes: number;
  hangOpen: boolean;
  hangClose: boolean;
  /** openDb takes this long (ms). */
  slowOpen?: number;
  /** The scope a timer started by `query('scope')` ran in. */
  seenScope?: Promise<ModuleScope | undefined>;
}

const state = (over: Partial<State> = {}): State => ({ opens: 0, closes: 0, hangOpen: false, hangClose: false, ...over });

const mod = defineModule<State>({
  apiVersion: 1,
  capabilities: ['query', 'transform'],
  initDb: () => state(),
  openDb(db) {
    db.opens++;
    if (db.slowOpen !== undefined) return sleep(db.slowOpen);
    return db.hangOpen ? new Promise<void>(() => undefined) : undefined;
  },
  query(db, _map, key): Reply | Promise<Reply> {
    switch (key) {
      case 'plain':
        return 'alice@example.org' as Reply;
      case 'bare-ok':
        return 'OK' as Reply;
      case 'undefined':
        return undefined as unknown as Reply;
      case 'object':
        return { ok: true } as unknown as Reply;
      case 'async-plain':
        return Promise.resolve('alice@example.org' as Reply);
      case 'timeout-sync':
        throw new BackendTimeoutError('no answer from 192.0.2.1:3306');
      case 'timeout-async':
        return Promise.reject(new BackendTimeoutError('no answer from 192.0.2.1:3306'));
      case 'backend':
        throw new BackendError('cannot read /etc/secret/map.db');
      case 'slow':
        return sleep(300).then(() => R.ok('late'));
      case 'scope':
        db.seenScope = new Promise((resolve) => setTimeout(() => resolve(currentScope()), 1));
        return R.ok('later');
      default:
        return R.ok(key);
    }
  },
  commands: {
    opens: { help: 'opens — how often openDb ran', run: (db) => String(db.opens) },
  },
  transform(_db, input) {
    if (input === 'number') return 42 as unknown as string;
    if (input === 'async-object') return Promise.resolve({} as unknown as string);
    return input.toUpperCase();
  },
  async closeDb(db) {
    db.closes++;
    if (db.hangClose) await new Promise<void>(() => undefined);
  },
});

function handle(st: State, timeoutMs = 5000) {
  const logged = capture('info');
  return { h: new DatabaseHandleImpl('db1', 'm1', mod, st, logged.log, timeoutMs, undefined), lines: logged.lines };
}

describe('isReply', () => {
  it('accepts what the formatter makes and nothing else', () => {
    for (const r of [R.ok('v'), R.ok(''), R.NOTFOUND, R.notFound('x'), R.noMore(), R.temp('t'), R.timeout('t'), R.perm('p'), R.ok('a\nb')]) {
      assert.ok(R.isReply(r), r);
    }
    for (const s of ['', 'O', 'OK', 'NOTFOUND', 'NOMOR x', 'ok v', 'alice@example.org', 'OKAY v', ' OK v', 'PERMX y', 'TIMEOUTx']) {
      assert.ok(!R.isReply(s), JSON.stringify(s));
    }
  });
});

describe('DatabaseHandle: the contract', () => {
  for (const key of ['plain', 'bare-ok', 'undefined', 'object', 'async-plain']) {
    it(`answers TEMP, never the value, when query answers ${key}, and logs it with module and database`, async () => {
      const { h, lines } = handle(state());
      assert.equal(await h.query('m', key, conn), 'TEMP database error');
      const line = lines().find((l) => l.msg === 'database query failed');
      assert.ok(line, 'logged');
      assert.equal(line.module, 'm1');
      assert.equal(line.db, 'db1');
      assert.match(String(line.err), /a module must answer with a reply made by ctx\.reply/);
      assert.equal(h.stats.errors, 1);
    });
  }

  it('answers TIMEOUT for a BackendTimeoutError, thrown or rejected, and counts it as a timeout', async () => {
    const { h, lines } = handle(state());
    assert.equal(await h.query('m', 'timeout-sync', conn), 'TIMEOUT database timeout');
    assert.equal(await h.query('m', 'timeout-async', conn), 'TIMEOUT database timeout');
    assert.equal(h.stats.timeouts, 2);
    assert.equal(h.stats.errors, 0);
    assert.match(String(lines().at(-1)?.err), /192\.0\.2\.1:3306/, 'the detail is in the log');
  });

  it('tells the client a short reason and the log the detail (no file path in the reply)', async () => {
    const { h, lines } = handle(state());
    const r = await h.query('m', 'backend', conn);
    assert.equal(r, 'TEMP database error');
    assert.match(String(lines().at(-1)?.err), /\/etc\/secret\/map\.db/);
  });

  it('reads a transform answer that is not a string or null as unchanged, and logs it', async () => {
    const { h, lines } = handle(state());
    assert.equal(await h.transform('number', conn), null);
    assert.equal(await h.transform('async-object', conn), null);
    assert.equal(await h.transform('abc', conn), 'ABC');
    assert.equal(lines().filter((l) => l.msg === 'transformation failed').length, 2);
  });
});

describe('DatabaseHandle: control commands', () => {
  it('finds own commands only: `constructor` or `toString` is no command', async () => {
    const { h } = handle(state());
    assert.equal(await h.command('opens', []), '1');
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      await assert.rejects(h.command(name, []), new RegExp(`has no command '${name}' \\(it has: opens\\)`));
    }
  });
});

describe('DatabaseHandle: hook deadlines', () => {
  it('an openDb that never finishes: the request answers within the timeout, and the open is tried again later', async () => {
    const st = state({ hangOpen: true });
    const { h, lines } = handle(st, 100);
    const started = Date.now();
    const r = await h.query('m', 'k', conn);
    assert.match(r, /^(TIMEOUT database timeout|TEMP database unavailable)$/);
    assert.ok(Date.now() - started < 5000);
    await h.open().catch(() => undefined);
    assert.ok(lines().some((l) => l.msg === 'cannot open database' && /openDb did not finish within 100 ms/.test(String(l.err))));
    st.hangOpen = false;
    await sleep(1100); // the re-open back-off
    assert.equal(await h.query('m', 'k', conn), 'OK k');
    assert.ok(st.opens >= 2);
  });

  it('the wait for the open counts towards the request timeout: a client never waits open + query', async () => {
    const { h } = handle(state({ slowOpen: 300 }), 400);
    // 300 ms of open leave at most 100 ms of the 400 ms timeout for a query that takes 300 ms.
    assert.equal(await h.query('m', 'slow', conn), 'TIMEOUT database timeout');
    assert.equal(h.stats.timeouts, 1);
    assert.equal(await h.query('m', 'slow', conn), 'OK late', 'once open, the query has the whole timeout');
  });

  it('a closeDb that never finishes is given up after the budget', async () => {
    const st = state({ hangClose: true });
    const { h, lines } = handle(st, 5000);
    await h.open();
    const started = Date.now();
    await h.close(100);
    assert.ok(Date.now() - started < 4000, 'close did not wait for the hung hook');
    assert.equal(st.closes, 1);
    assert.ok(lines().some((l) => l.msg === 'closeDb did not finish; going on without it'));
  });
});

describe('DatabaseHandle: faults that escape the module', () => {
  it('runs the module in its scope, and carries the scope to the timers the module starts', async () => {
    const st = state();
    const { h } = handle(st);
    await h.open();
    assert.equal(h.query('m', 'scope', conn), 'OK later');
    assert.equal(currentScope(), undefined, 'the caller is back in its own scope');
    const seen = await st.seenScope;
    assert.equal(seen, h.scope);
    assert.equal(seen?.moduleId, 'm1');
    assert.equal(seen?.dbId, 'db1');
  });

  it('a fault makes the database answer TEMP, closes it and opens it again after the back-off', async () => {
    const st = state();
    const { h, lines } = handle(st);
    await h.open();
    assert.equal(h.query('m', 'k', conn), 'OK k');
    h.scope.fault(new Error('boom in a timer'), 'uncaughtException');
    assert.equal(await h.query('m', 'k', conn), 'TEMP database unavailable');
    const line = lines().find((l) => l.origin === 'uncaughtException');
    assert.ok(line);
    assert.deepEqual([line.module, line.db, line.err], ['m1', 'db1', 'boom in a timer']);
    await sleep(1100);
    assert.equal(await h.query('m', 'k', conn), 'OK k');
    assert.deepEqual([st.opens, st.closes], [2, 1]);
  });

  it('a fault after the database is closed is only logged', async () => {
    const st = state();
    const { h, lines } = handle(st);
    await h.open();
    await h.close();
    h.scope.fault(new Error('late'), 'unhandledRejection');
    assert.equal(st.closes, 1);
    assert.ok(lines().some((l) => l.origin === 'unhandledRejection'));
  });
});
