/**
 * One slow mysql database must not starve another one with the same connection settings, and the database
 * block's `timeout` must stop the slow query on the server and free its connection. Through a real smapd
 * and real MariaDB; the databases log in as a user made for this file, so its processlist is ours alone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { SmapClient } from '../../src/client/client.js';
import { connectServer, DB_HOST, DB_PORT, needServer, sleep, uniqueName, type Server } from './mysql-fixture.js';

let server: Server | undefined;
let daemon: TestDaemon | undefined;
const user = uniqueName('smapd_i');
const password = randomBytes(12).toString('hex');

/** The slow database sleeps for key `slow` only; the module's own timeout is far away, so only the block's can stop it. */
function config(): string {
  const conn = `host=${DB_HOST} port=${DB_PORT} user=${user} password=${password} config-file= pool-size=4 timeout=60s`;
  return `
server main inet://127.0.0.1:0
module mysql mysql ${conn}
database slow mysql "query=SELECT IF($key = 'slow', SLEEP(60), CONCAT('quick ', $key)) AS v" begin
  timeout 1s
end
database fast mysql "query=SELECT CONCAT('fast ', $key) AS v"
dispatch map slow database slow
dispatch map fast database fast
`;
}

async function sleepingQueries(admin: NonNullable<Server['admin']>): Promise<number> {
  const [rows] = await admin.query(
    "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE user = ? AND info LIKE '%SLEEP%' AND command <> 'Killed'",
    [user],
  );
  return Number((rows as { n: number }[])[0]!.n);
}

describe('mysql databases are isolated from each other', () => {
  before(async () => {
    server = await connectServer();
    if (server.admin === null) return;
    await server.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    daemon = await startDaemon(config());
  });

  after(async () => {
    await daemon?.stop();
    if (server?.admin) {
      const [rows] = await server.admin.query('SELECT id FROM information_schema.processlist WHERE user = ?', [user]);
      for (const r of rows as { id: number }[]) await server.admin.query(`KILL ${Number(r.id)}`).catch(() => undefined);
      await server.admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await server.admin.end();
    }
  });

  it('a fast database keeps answering while 8 clients wait on a slow one; the timeout kills the slow queries', async (t) => {
    if (!needServer(t, server)) return;
    const d = daemon!;
    const slowClients: SmapClient[] = [];
    for (let i = 0; i < 8; i++) slowClients.push(await d.client());
    const fastClient = await d.client();
    assert.equal(await fastClient.query('fast', 'warm'), 'OK fast warm');

    const started = Date.now();
    let slowDone = false;
    const slow = Promise.all(slowClients.map((c) => c.query('slow', 'slow'))).finally(() => (slowDone = true));
    // Let the slow lookups take their connections before measuring the fast database.
    for (let i = 0; i < 100 && (await sleepingQueries(server.admin)) < 4; i++) await sleep(20);
    const fastAnswers: string[] = [];
    let slowest = 0;
    while (!slowDone) {
      const t0 = Date.now();
      const r = await fastClient.query('fast', `k${fastAnswers.length}`);
      slowest = Math.max(slowest, Date.now() - t0);
      fastAnswers.push(r);
    }
    const slowReplies = await slow;

    for (const r of slowReplies) assert.match(r, /^TIMEOUT \S/);
    assert.ok(Date.now() - started < 10_000, 'the slow lookups ended at their timeout');
    assert.ok(fastAnswers.length >= 20, `the fast database answered ${fastAnswers.length} lookups while the slow one was busy`);
    assert.ok(slowest < 900, `no fast lookup waited for the slow ones (slowest ${slowest} ms)`);
    fastAnswers.forEach((r, i) => assert.equal(r, `OK fast k${i}`));

    // The timed-out queries are killed on the server, not left to sleep for a minute. Within 2 s: MariaDB
    // ends a SLEEP() whose client has gone by itself, but only at its next 5 s slice, and only SLEEP().
    let left = await sleepingQueries(server.admin);
    for (let i = 0; i < 40 && left > 0; i++) {
      await sleep(50);
      left = await sleepingQueries(server.admin);
    }
    assert.equal(left, 0, 'no timed-out query is left running on the server');

    // And their connections are free again: the slow database answers its quick keys at once.
    const again = await Promise.all(slowClients.map((c, i) => c.query('slow', `q${i}`)));
    again.forEach((r, i) => assert.equal(r, `OK quick q${i}`));
  });
});
