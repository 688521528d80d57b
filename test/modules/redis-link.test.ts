/**
 * The redis module's own connection to one server (modules/redis/link.ts), against a scripted Redis
 * (redis-fake.ts): the lookups of one turn leave in one write and each gets its own answer, replies cut
 * anywhere are put together, a batch cut by the server's end answers TEMP for each lookup it left without a
 * reply, a late reply is dropped without shifting the answers after it.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import redisModule, { type RedisDb } from '../../modules/redis/index.js';
import type { Reply } from '../../src/modules/api.js';
import { pino } from 'pino';
import { databaseContext } from '../helpers/module-context.js';
import { FakeRedis, type FakeHandler } from './redis-fake.js';
import { conn, waitFor } from './redis-fixture.js';

const opened: RedisDb[] = [];
const fakes: FakeRedis[] = [];

const DATA = new Map<string, Buffer | string>([
  ['m:a', 'alpha'],
  ['m:b', 'bravo'],
  ['m:crlf', 'one\r\ntwo'],
  ['m:\u00ff', Buffer.from([0xfe, 0x41])],
  ['m:empty', ''],
]);

async function fake(handler?: FakeHandler): Promise<FakeRedis> {
  const f = await FakeRedis.start(DATA, handler);
  fakes.push(f);
  return f;
}

async function open(f: FakeRedis, args: string[] = []): Promise<RedisDb> {
  const db = (await redisModule.initDb([`url=${f.url}`, 'key=${map}:${key}', ...args], databaseContext('db1', [], 'redis'))) as RedisDb;
  opened.push(db);
  await redisModule.openDb!(db);
  return db;
}

function ask(db: RedisDb, key: string): Promise<Reply> {
  return redisModule.query!(db, 'm', key, conn) as Promise<Reply>;
}

/** What DATA says the answer to `key` is. */
function expected(key: string): string {
  const v = DATA.get(`m:${key}`);
  if (v === undefined) return 'NOTFOUND ';
  return `OK ${typeof v === 'string' ? v.replace(/[\r\n]/g, ' ') : '?'}`;
}

after(async () => {
  for (const db of opened.splice(0)) await redisModule.closeDb!(db);
  await Promise.all(fakes.map((f) => f.stop()));
});

describe('redis module, its connection to one server', () => {
  it('sends the lookups asked in one turn (as from many client connections) in one write, each answered with its own reply', async () => {
    const f = await fake();
    const db = await open(f);
    const keys = Array.from({ length: 48 }, (_, i) => ['a', 'b', 'nobody', 'crlf', 'empty', `x${i}`][i % 6]!);
    const replies = await Promise.all(keys.map((k) => ask(db, k)));
    assert.deepEqual(replies, keys.map(expected));
    const chunks = f.lookupChunks(0);
    assert.equal(chunks.length, 1, 'one write for the whole turn');
    assert.equal(chunks[0]!.split('GET\r\n').length - 1, keys.length);
  });

  it('keeps 8-bit keys and values as bytes, and puts replies cut anywhere back together', async () => {
    // Every reply byte in its own write, each after the last has been read; replies in order.
    let writing = Promise.resolve();
    const f = await fake((c, answer) => {
      const bytes = answer(c.args);
      writing = writing.then(async () => {
        for (let i = 0; i < bytes.length; i++) {
          c.socket.write(bytes.subarray(i, i + 1));
          await new Promise((r) => setTimeout(r, 1));
        }
      });
      return null;
    });
    const db = await open(f);
    // The key is the byte 0xff (a lone surrogate, as smapd decodes it), the value the bytes 0xfe 'A'.
    assert.equal(await ask(db, '\udcff'), 'OK \udcfeA');
    const keys = ['a', 'crlf', 'nobody', 'b'];
    assert.deepEqual(await Promise.all(keys.map((k) => ask(db, k))), keys.map(expected));
  });

  it('answers TEMP for each lookup a closing server left unanswered, keeps the answers it gave, and reconnects', async () => {
    let seen = 0;
    let cutOff: Socket | null = null;
    const f = await fake((c, answer) => {
      if (c.socket === cutOff) return null;
      if (c.args[0]!.toString() !== 'GET' || seen > 3) return answer(c.args);
      if (++seen <= 3) return answer(c.args);
      // The first three answered, then the connection ends before the rest are.
      cutOff = c.socket;
      setImmediate(() => c.socket.destroy());
      return null;
    });
    const db = await open(f);
    const keys = ['a', 'b', 'nobody', 'a', 'b', 'crlf'];
    const replies = await Promise.all(keys.map((k) => ask(db, k)));
    assert.deepEqual(replies.slice(0, 3), keys.slice(0, 3).map(expected));
    for (const r of replies.slice(3)) assert.match(r, /^TEMP no connection to Redis at 127\.0\.0\.1:\d+ \([a-z]+\)$/);
    await waitFor('the connection to come back', async () => (await ask(db, 'a')) === 'OK alpha', 10_000);
    assert.ok(f.sockets.length >= 2, 'a new connection was made');
  });

  it('drops a reply that comes after the timeout, and the next lookup still gets its own answer', async () => {
    let held: { socket: Socket; bytes: Buffer } | null = null;
    const f = await fake((c, answer) => {
      const key = c.args[1]?.toString();
      if (key === 'm:a' && held === null) {
        held = { socket: c.socket, bytes: answer(c.args) };
        return null;
      }
      if (key === 'm:b' && held !== null) {
        // The late reply to `a` first, then the reply to `b`, in one write.
        const late = held.bytes;
        held = { socket: c.socket, bytes: Buffer.alloc(0) };
        return Buffer.concat([late, answer(c.args)]);
      }
      return answer(c.args);
    });
    const db = await open(f, ['timeout=200ms']);
    assert.match(await ask(db, 'a'), /^TIMEOUT no answer from Redis at 127\.0\.0\.1:\d+ within 200 ms$/);
    assert.equal(await ask(db, 'b'), 'OK bravo');
    assert.equal(await ask(db, 'a'), 'OK alpha');
    assert.equal(f.sockets.length, 1, 'the connection went on');
  });

  it('gives up a connection whose replies it cannot read (not RESP2), answering TEMP, and makes a new one', async () => {
    let bad = true;
    const f = await fake((c, answer) => {
      if (c.args[0]!.toString() === 'GET' && bad) {
        bad = false;
        return Buffer.from('*1\r\n$1\r\nx\r\n');
      }
      return answer(c.args);
    });
    const db = await open(f);
    assert.match(await ask(db, 'a'), /^TEMP no connection to Redis at 127\.0\.0\.1:\d+ \([a-z]+\)$/);
    await waitFor('the connection to come back', async () => (await ask(db, 'a')) === 'OK alpha', 10_000);
  });

  it('answers the error Redis sends for a lookup (WRONGTYPE) in the onerror reply', async () => {
    const f = await fake();
    const db = (await redisModule.initDb([`url=${f.url}`, 'field=f'], databaseContext('db1', [], 'redis'))) as RedisDb;
    opened.push(db);
    await redisModule.openDb!(db);
    assert.match(await (redisModule.query!(db, 'm', 'a', conn) as Promise<Reply>), /^TEMP WRONGTYPE /);
  });

  it('logs the lookups that fail while Redis is down once, then as one summary line, not one line each', async () => {
    const f = await fake();
    const lines: Array<{ msg: string; repeated?: number }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; repeated?: number }) });
    const db = (await redisModule.initDb([`url=${f.url}`], { ...databaseContext('db1', [], 'redis'), log })) as RedisDb;
    await redisModule.openDb!(db);
    await f.stop();
    await waitFor('the connection to be lost', async () => /^TEMP /.test(await ask(db, 'a')), 5000);
    for (let i = 0; i < 20; i++) assert.match(await ask(db, 'a'), /^TEMP no connection to Redis/);
    const failed = () => lines.filter((l) => l.msg.startsWith('redis lookup failed'));
    assert.equal(failed().length, 1, 'one line while the outage goes on');
    await redisModule.closeDb!(db);
    assert.equal(failed().length, 2, 'and one summary at the end');
    assert.ok((failed()[1]!.repeated ?? 0) >= 20, `the summary counts the rest: ${JSON.stringify(failed()[1])}`);
  });
});
