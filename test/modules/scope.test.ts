/**
 * The module scope goes wherever the module's own code goes: into timers, ticks, immediates, microtasks,
 * promise continuations and socket callbacks made during a call into it, and from those on to what they
 * make; never into smapd's own code around the call.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { currentScope, enterCore, enterScope, inScope, leaveScope, ModuleScope } from '../../src/modules/scope.js';

const log = pino({ level: 'silent' });

describe('ModuleScope carrying', () => {
  it('reaches every kind of callback a synchronous call makes, and what those make in turn', async () => {
    const scope = new ModuleScope('m', 'db', log);
    const seen = new Map<string, ModuleScope | undefined>();
    const note = (what: string) => seen.set(what, currentScope());
    const server = net.createServer((c) => c.end('x'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const done = new Promise<void>((resolve) => {
      const prev = enterScope(scope);
      try {
        setTimeout(() => {
          note('timer');
          setImmediate(() => note('immediate made by the timer'));
        }, 1);
        process.nextTick(() => note('tick'));
        queueMicrotask(() => note('microtask'));
        void (async () => {
          await Promise.resolve();
          note('after await');
        })();
        const sock = net.connect(port, '127.0.0.1');
        sock.on('data', () => note('socket data'));
        sock.on('close', () => setTimeout(resolve, 20));
      } finally {
        leaveScope(prev);
      }
    });
    assert.equal(currentScope(), undefined, 'the caller is back in its own scope');
    await done;
    server.close();
    const kinds = ['timer', 'immediate made by the timer', 'tick', 'microtask', 'after await', 'socket data'];
    for (const k of kinds) assert.equal(seen.get(k), scope, k);
  });

  it("runs smapd's own code outside the scope when it is called from a module's callback (enterCore)", async () => {
    const scope = new ModuleScope('m', 'db', log);
    const seen = new Map<string, ModuleScope | undefined>();
    const note = (what: string) => seen.set(what, currentScope());
    await new Promise<void>((resolve) => {
      const prev = enterScope(scope);
      try {
        setImmediate(() => {
          note('module callback');
          const core = enterCore();
          try {
            note('core code');
            setImmediate(() => note('immediate made by core code'));
            queueMicrotask(() => note('microtask made by core code'));
          } finally {
            leaveScope(core);
          }
          note('module callback again');
          setTimeout(resolve, 10);
        });
      } finally {
        leaveScope(prev);
      }
    });
    assert.equal(seen.get('module callback'), scope);
    assert.equal(seen.get('module callback again'), scope);
    for (const k of ['core code', 'immediate made by core code', 'microtask made by core code']) assert.equal(seen.get(k), undefined, k);
  });

  it("leaves smapd's own callbacks, made before, after and around the call, outside any scope", async () => {
    const scope = new ModuleScope('m', 'db', log);
    const seen = new Map<string, ModuleScope | undefined>();
    const note = (what: string) => seen.set(what, currentScope());
    const before = Promise.resolve();
    inScope(scope, () => undefined);
    await new Promise<void>((resolve) => {
      void before.then(() => note('promise made before'));
      setTimeout(() => note('timer made after'), 1);
      process.nextTick(() => note('tick made after'));
      setTimeout(resolve, 10);
    });
    assert.deepEqual([...seen.values()], [undefined, undefined, undefined]);
    assert.equal(seen.size, 3);
  });

  it('nests: an inner call has its own scope, and the outer one is back after it, even after a throw', () => {
    const outer = new ModuleScope('m', 'outer', log);
    const inner = new ModuleScope('m', 'inner', log);
    inScope(outer, () => {
      assert.equal(currentScope(), outer);
      assert.throws(() =>
        inScope(inner, () => {
          assert.equal(currentScope(), inner);
          throw new Error('inner');
        }),
      );
      assert.equal(currentScope(), outer);
      const prev = enterScope(inner);
      assert.equal(prev, outer);
      leaveScope(prev);
      assert.equal(currentScope(), outer);
    });
    assert.equal(currentScope(), undefined);
  });
});
