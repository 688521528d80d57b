/**
 * A TEMP reply tells any client a short reason; the file path or host:port behind it is in the log only.
 * Real daemon, real sockets: a text map whose file is missing, an SQLite file that is missing, a MySQL server
 * that refuses connections (a port nothing listens on), and an SQL error through the default onerror-reply.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { capture } from '../helpers/capture-log.js';

/** A TCP port on loopback that nothing listens on (bound once, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('client-visible errors say little', () => {
  const logged = capture('info');
  let d: TestDaemon;
  let port: number;

  before(async () => {
    port = await closedPort();
    d = await startDaemon(
      `server s inet://127.0.0.1:0
module file file
module sqlite sqlite
module mysql mysql
database textmap file file=@DIR@/missing/aliases allow-missing
database lite sqlite file=@DIR@/missing.db allow-missing
database my mysql config-file= host=127.0.0.1 port=${port} user=nobody database=none "query=SELECT v FROM t WHERE k = $key"
dispatch map textmap database textmap
dispatch map lite database lite
dispatch map my database my
`,
      logged.log,
    );
  });
  after(() => d?.stop());

  for (const map of ['textmap', 'lite', 'my']) {
    it(`${map}: the client reads 'TEMP database unavailable'; the log has the detail`, async () => {
      const c = await d.client();
      const r = await c.query(map, 'someone');
      assert.equal(r, 'TEMP database unavailable');
      assert.ok(!r.includes(d.dir) && !r.includes('127.0.0.1') && !r.includes(String(port)));
      const line = logged.lines().find((l) => l.msg === 'cannot open database' && l.db === map);
      assert.ok(line, `a log line for ${map}`);
      const detail = String(line.err);
      assert.ok(map === 'my' ? detail.includes(`127.0.0.1:${port}`) : detail.includes(d.dir), detail);
    });
  }
});
