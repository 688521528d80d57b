/**
 * The redis module against the machine's Redis (lookups, templates, keys as data) and against private
 * redis-server processes (an outage and its end, a password, a slow server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import redisModule, { type RedisDb } from '../../modules/redis/index.js';
import { BackendError, ModuleArgumentError } from '../../src/errors.js';
import type { Reply } from '../../src/modules/api.js';
import { startDaemon } from '../helpers/daemon.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import {
  conn,
  connectShared,
  deletePrefix,
  makeCertificates,
  makeDir,
  needRedis,
  PrivateRedis,
  REDIS_HOST,
  REDIS_PORT,
  redisServerMissing,
  removeDir,
  uniquePrefix,
  waitFor,
} from './redis-fixture.js';

/** Keys that must reach Redis as data: glob characters, quotes, NUL, CR/LF (the RESP line end), 8-bit text. */
const TRICKY_KEYS = ["o'brien", '"dq"', '100%', '*', '?', '[a-z]', 'a_b', 'a\u0000b', 'crlf\r\nGET x', '(uid=*)', 'back\\slash', 'two  spaces', 'café ✉ 🎉', ''];

const SHARED = `redis://${REDIS_HOST}:${REDIS_PORT}/0`;

let admin: Redis | null = null;
let unavailable: string | null | undefined;
const prefix = uniquePrefix('redis');
const opened: RedisDb[] = [];

async function open(args: string[], moduleArgs: string[] = []): Promise<RedisDb> {
  return openDatabase(redisModule, args, databaseContext('db1', moduleArgs, 'redis'), opened);
}

function ask(db: RedisDb, key: string, map = 'aliases'): Promise<Reply> {
  return lookUp(redisModule, db, map, key, conn);
}

describe('redis module, on the machine Redis', () => {
  before(async () => {
    ({ admin, unavailable } = await connectShared());
    if (admin === null) return;
    await admin.set(`${prefix}:aliases:smith`, 'dmk@example.org');
    await admin.set(`${prefix}:aliases:empty`, '');
    await admin.hset(`${prefix}:user:smith`, 'mailbox', 'smith@mbox.example.org', 'quota', '10G');
    for (const k of TRICKY_KEYS) await admin.set(`${prefix}:aliases:${k}`, `value of ${k}`);
  });
  after(async () => {
    for (const db of opened.splice(0)) await redisModule.closeDb!(db);
    if (admin !== null) {
      await deletePrefix(admin, prefix);
      admin.disconnect();
    }
  });

  it('GETs `${map}:${key}` under a prefix: OK value, or NOTFOUND', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const db = await open([`url=${SHARED}`, `key=${prefix}:\${map}:\${key}`]);
    assert.equal(await ask(db, 'smith'), 'OK dmk@example.org');
    assert.equal(await ask(db, 'empty'), 'OK ');
    assert.equal(await ask(db, 'nobody'), 'NOTFOUND ');
    assert.equal(await ask(db, 'smith', 'other'), 'NOTFOUND ');
  });

  it('looks up keys with glob characters, quotes, NUL, CR/LF and 8-bit text as data', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const db = await open([`url=${SHARED}`, `key=${prefix}:\${map}:\${key}`]);
    for (const k of TRICKY_KEYS) assert.equal(await ask(db, k), `OK value of ${k}`.replace(/[\r\n]/g, ' '), JSON.stringify(k));
    // `*` is not a pattern: it matches only the key that is literally `*`.
    assert.equal(await ask(db, '*x'), 'NOTFOUND ');
    assert.equal(await ask(db, 'smit?'), 'NOTFOUND ');
    assert.equal(await ask(db, 'caf\u00e9'.normalize('NFD') + ' ✉ 🎉'), 'NOTFOUND ');
  });

  it('keeps 8-bit keys and values byte for byte: \\xfe and \\xff are two keys, a Latin-1 value comes back as it is', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const a = admin!;
    // What smapd makes of the request bytes `\xfe`, `\xff`, `caf\xe9` (src/protocol/bytes.ts: lone surrogates).
    await a.set(Buffer.concat([Buffer.from(`${prefix}:latin:`), Buffer.from([0xfe])]), 'thorn');
    await a.set(Buffer.concat([Buffer.from(`${prefix}:latin:`), Buffer.from([0xff])]), 'yuml');
    await a.set(Buffer.from(`${prefix}:latin:cafe`), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    const db = await open([`url=${SHARED}`, `key=${prefix}:\${map}:\${key}`]);
    assert.equal(await ask(db, '\udcfe', 'latin'), 'OK thorn');
    assert.equal(await ask(db, '\udcff', 'latin'), 'OK yuml');
    assert.equal(await ask(db, '\ufffd', 'latin'), 'NOTFOUND ', 'U+FFFD is a key of its own, not every bad byte');
    assert.equal(await ask(db, 'cafe', 'latin'), 'OK caf\udce9', 'the value keeps its byte \\xe9');
  });

  it('HGETs a field when field= is given, and renders positive-reply with the request variables', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const db = await open([`url=${SHARED}`, `key=${prefix}:user:\${key}`, 'field=mailbox', 'positive-reply=OK <${value}> for ${key} in ${map}']);
    assert.equal(await ask(db, 'smith'), 'OK <smith@mbox.example.org> for smith in aliases');
    assert.equal(await ask(db, 'jones'), 'NOTFOUND ');
    const byMap = await open([`url=${SHARED}`, `key=${prefix}:user:\${key}`, 'field=${map}']);
    assert.equal(await ask(byMap, 'smith', 'quota'), 'OK 10G');
    assert.equal(await ask(byMap, 'smith', 'nofield'), 'NOTFOUND ');
  });

  it('answers the onerror reply with the reason when Redis refuses the command (a hash read with GET)', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const db = await open([`url=${SHARED}`, `key=${prefix}:user:\${key}`]);
    assert.match(await ask(db, 'smith'), /^TEMP WRONGTYPE/);
    const failOpen = await open([`url=${SHARED}`, `key=${prefix}:user:\${key}`, 'onerror-reply=NOTFOUND error ${error}']);
    assert.match(await ask(failOpen, 'smith'), /^NOTFOUND error WRONGTYPE/);
  });

  it('takes module arguments as defaults that the database overrides', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const db = await open([`key=${prefix}:\${map}:\${key}`], [`url=redis://127.0.0.1:1/0`, `url=${SHARED}`, 'negative-reply=NOTFOUND none']);
    assert.equal(await ask(db, 'smith'), 'OK dmk@example.org');
    assert.equal(await ask(db, 'nobody'), 'NOTFOUND none');
  });

  it('serves lookups through a running smapd, many at once', async (t) => {
    if (!needRedis(t, unavailable)) return;
    const d = await startDaemon(`
server main inet://127.0.0.1:0
module redis redis url=${SHARED}
database aliases redis key=${prefix}:aliases:\${key}
dispatch map eq aliases database aliases
`);
    try {
      const c = await d.client();
      const keys = ['smith', 'nobody', ...TRICKY_KEYS.filter((k) => !/[\r\n]/.test(k))];
      const replies = await c.pipeline(Array.from({ length: 300 }, (_, i) => ['aliases', keys[i % keys.length]!] as const));
      assert.deepEqual(
        replies,
        Array.from({ length: 300 }, (_, i) => {
          const k = keys[i % keys.length]!;
          return k === 'smith' ? 'OK dmk@example.org' : k === 'nobody' ? 'NOTFOUND ' : `OK value of ${k}`;
        }),
      );
    } finally {
      await d.stop();
    }
  });

  it('says which connection facts the answer depends on, for the cache', async () => {
    const deps = async (args: string[]) => redisModule.answerDependsOn!((await redisModule.initDb(args, databaseContext())) as RedisDb);
    assert.deepEqual(await deps([`url=${SHARED}`]), []);
    assert.deepEqual(await deps([`url=${SHARED}`, 'key=${server}:${key}', 'positive-reply=OK ${value} ${src}']), ['src', 'serverId']);
  });

  it('rejects bad arguments at initDb with a clear message, without connecting', async () => {
    const init = (args: string[]) => redisModule.initDb(args, databaseContext());
    assert.throws(() => init([]), /either url=.* or cluster=/);
    assert.throws(() => init([`url=${SHARED}`, 'cluster=127.0.0.1:7000']), /one of them/);
    assert.throws(() => init(['url=http://127.0.0.1']), /redis:\/\/ or rediss:\/\//);
    assert.throws(() => init(['url=redis://127.0.0.1/x']), /database number/);
    assert.throws(() => init(['url=redis://127.0.0.1:99999']), ModuleArgumentError);
    assert.throws(() => init(['cluster=127.0.0.1:0']), /out of range/);
    assert.throws(() => init(['cluster=,']), /no node/);
    assert.throws(() => init([`url=${SHARED}`, 'key=${nope}']), /unknown variable/);
    assert.throws(() => init([`url=${SHARED}`, 'negative-reply=NOTFOUND ${value}']), /unknown variable/);
    assert.throws(() => init([`url=${SHARED}`, 'timeout=0']), /timeout/);
    assert.throws(() => init([`url=${SHARED}`, 'bogus=1']), /unknown option/);
    assert.throws(() => init(['url=rediss://127.0.0.1', 'notls']), /contradicts/);
  });
});

describe('redis module, on private redis-server processes', () => {
  let dir: string | undefined;
  let missing: string | null | undefined;
  const servers: PrivateRedis[] = [];

  before(async () => {
    missing = await redisServerMissing();
    dir = makeDir();
  });
  after(async () => {
    for (const db of opened.splice(0)) await redisModule.closeDb!(db);
    await Promise.all(servers.map((s) => s.stop()));
    removeDir(dir);
  });

  async function server(args: readonly string[] = []): Promise<PrivateRedis> {
    const s = await PrivateRedis.start(dir!, { args });
    servers.push(s);
    return s;
  }

  it('answers TEMP at once while the server is down, and recovers when it is back', async (t) => {
    if (!needRedis(t, missing)) return;
    const s = await server();
    await s.cli('set', 'm:k', 'v1');
    const db = await open([`url=redis://127.0.0.1:${s.port}`, 'timeout=20s']);
    assert.equal(await ask(db, 'k', 'm'), 'OK v1');
    await s.kill();
    const started = Date.now();
    for (let i = 0; i < 20; i++) assert.match(await ask(db, 'k', 'm'), /^TEMP no connection to Redis at 127\.0\.0\.1:\d+( \([a-z]+\))?$/);
    assert.ok(Date.now() - started < 5000, 'TEMP came at once, not after the 20 s timeout');
    await s.restart();
    await s.cli('set', 'm:k', 'v2');
    await waitFor('lookups to work again', async () => (await ask(db, 'k', 'm')) === 'OK v2', 15_000);
  });

  it('opens with a password from the URL or password=, in the database the URL names', async (t) => {
    if (!needRedis(t, missing)) return;
    const s = await server(['--requirepass', 'p@ss word']);
    await s.cli('-a', 'p@ss word', '--no-auth-warning', '-n', '3', 'set', 'm:k', 'in db 3');
    const viaUrl = await open([`url=redis://:${encodeURIComponent('p@ss word')}@127.0.0.1:${s.port}/3`]);
    assert.equal(await ask(viaUrl, 'k', 'm'), 'OK in db 3');
    const viaOption = await open([`url=redis://127.0.0.1:${s.port}/3`, 'password=p@ss word']);
    assert.equal(await ask(viaOption, 'k', 'm'), 'OK in db 3');
    const db0 = await open([`url=redis://127.0.0.1:${s.port}`, 'password=p@ss word']);
    assert.equal(await ask(db0, 'k', 'm'), 'NOTFOUND ');
    const wrong = (await redisModule.initDb([`url=redis://127.0.0.1:${s.port}`, 'password=wrong'], databaseContext())) as RedisDb;
    opened.push(wrong);
    await assert.rejects(Promise.resolve(redisModule.openDb!(wrong)), /WRONGPASS|invalid password/i);
  });

  it('speaks TLS with rediss://, verifying the server against tls-cacert', async (t) => {
    if (!needRedis(t, missing)) return;
    const tls = makeCertificates(dir!);
    const s = await PrivateRedis.start(dir!, { tls });
    servers.push(s);
    await s.cli('set', 'm:k', 'over tls');
    const db = await open([`url=rediss://127.0.0.1:${s.port}`, `tls-cacert=${tls.ca}`]);
    assert.equal(await ask(db, 'k', 'm'), 'OK over tls');
    // Without the private CA the certificate is not trusted, and no plain connection is tried instead.
    const untrusted = (await redisModule.initDb([`url=rediss://127.0.0.1:${s.port}`, 'connect-timeout=2s'], databaseContext())) as RedisDb;
    opened.push(untrusted);
    await assert.rejects(Promise.resolve(redisModule.openDb!(untrusted)), /certificate/i);
    const plain = (await redisModule.initDb([`url=redis://127.0.0.1:${s.port}`, 'connect-timeout=1s'], databaseContext())) as RedisDb;
    opened.push(plain);
    await assert.rejects(Promise.resolve(redisModule.openDb!(plain)), BackendError);
    assert.throws(() => redisModule.initDb([`url=rediss://127.0.0.1:${s.port}`, `tls-cacert=${dir}/none.pem`], databaseContext()), /none\.pem/);
  });

  it('answers TIMEOUT when the server does not answer in time, then goes on', async (t) => {
    if (!needRedis(t, missing)) return;
    const s = await server();
    await s.cli('set', 'm:k', 'v');
    const db = await open([`url=redis://127.0.0.1:${s.port}`, 'timeout=300ms']);
    assert.equal(await ask(db, 'k', 'm'), 'OK v');
    await s.cli('client', 'pause', '2000', 'ALL');
    assert.match(await ask(db, 'k', 'm'), /^TIMEOUT no answer from Redis at 127\.0\.0\.1:\d+ within 300 ms$/);
    await waitFor('the pause to end', async () => (await ask(db, 'k', 'm')) === 'OK v', 10_000);
  });

  it('fails the open with the reason when nothing listens', async (t) => {
    if (!needRedis(t, missing)) return;
    const s = await server();
    await s.stop();
    const db = (await redisModule.initDb([`url=redis://127.0.0.1:${s.port}`], databaseContext())) as RedisDb;
    opened.push(db);
    await assert.rejects(Promise.resolve(redisModule.openDb!(db)), /cannot connect to Redis at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});
