/**
 * The redis module on a real 3-node Redis Cluster of the test's own, through a running smapd under a steady
 * load: slots are followed across the nodes, and when one node is killed, the keys it holds answer TEMP while
 * the keys of the other nodes keep answering OK; when it comes back, every key answers OK again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import type { SmapClient } from '../../src/client/client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { makeDir, needRedis, PrivateCluster, type PrivateRedis, redisServerMissing, removeDir, waitFor } from './redis-fixture.js';

const MAP = 'aliases';
const KEYS = Array.from({ length: 60 }, (_, i) => `user${i}@example.org`);
const valueOf = (k: string) => `mbox-of-${k}`;

/** Several clients asking every key in turn, as fast as smapd answers, recording each reply with the phase. */
class Load {
  readonly seen = new Map<string, Array<{ phase: string; reply: string }>>();
  phase = 'up';
  private running = true;
  private loops: Promise<void>[] = [];

  constructor(private readonly clients: readonly SmapClient[]) {
    for (const k of KEYS) this.seen.set(k, []);
  }

  start(): void {
    this.loops = this.clients.map(async (c, ci) => {
      for (let i = ci; this.running; i++) {
        const key = KEYS[i % KEYS.length]!;
        const phase = this.phase;
        const reply = await c.query(MAP, key);
        this.seen.get(key)!.push({ phase, reply });
      }
    });
  }

  /** Replies to `key` in `phase`. */
  replies(key: string, phase: string): string[] {
    return this.seen.get(key)!.filter((r) => r.phase === phase).map((r) => r.reply);
  }

  last(key: string): string | undefined {
    const all = this.seen.get(key)!;
    return all[all.length - 1]?.reply;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describe('redis module, on a 3-node Redis Cluster', () => {
  let dir: string | undefined;
  let missing: string | null | undefined;
  let cluster: PrivateCluster | undefined;
  let daemon: TestDaemon | undefined;

  before(async () => {
    missing = await redisServerMissing();
    if (missing !== null) return;
    dir = makeDir();
    cluster = await PrivateCluster.start(dir);
    const writer = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    writer.on('error', () => undefined);
    try {
      for (const k of KEYS) await writer.set(`${MAP}:${k}`, valueOf(k));
    } finally {
      writer.disconnect();
    }
    daemon = await startDaemon(`
server main inet://127.0.0.1:0
module redis redis
database aliases redis cluster=${cluster.seeds} timeout=10s
dispatch map eq ${MAP} database aliases
`);
  });
  after(async () => {
    await daemon?.stop();
    await cluster?.stop();
    removeDir(dir);
  });

  it('spreads the keys over the three nodes and finds each one', async (t) => {
    if (!needRedis(t, missing)) return;
    const owners = await cluster!.nodesOf(KEYS.map((k) => `${MAP}:${k}`));
    assert.equal(new Set(owners.values()).size, 3, 'the test keys live on all three nodes');
    const c = await daemon!.client();
    const replies = await c.pipeline(KEYS.map((k) => [MAP, k] as const));
    assert.deepEqual(
      replies,
      KEYS.map((k) => `OK ${valueOf(k)}`),
    );
    assert.equal(await c.query(MAP, 'nobody@example.org'), 'NOTFOUND ');
  });

  it('follows slots that move to another node under load (MOVED and ASK redirections)', async (t) => {
    if (!needRedis(t, missing)) return;
    const [from, to] = [cluster!.nodes[0]!, cluster!.nodes[2]!];
    const before = await cluster!.nodesOf(KEYS.map((k) => `${MAP}:${k}`));
    const load = new Load(await Promise.all([1, 2, 3, 4].map(() => daemon!.client())));
    load.start();
    try {
      await waitFor('every key answered under load', async () => KEYS.every((k) => load.replies(k, 'up').length > 0));
      load.phase = 'moving';
      const id = async (n: PrivateRedis) => (await n.cli('cluster', 'myid')).trim();
      await from.cli('--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', await id(from), '--cluster-to', await id(to), '--cluster-slots', '3000', '--cluster-yes');
      load.phase = 'moved';
      await waitFor('every key answered after the move', async () => KEYS.every((k) => load.replies(k, 'moved').length > 0));
    } finally {
      await load.stop();
    }
    const after = await cluster!.nodesOf(KEYS.map((k) => `${MAP}:${k}`));
    const moved = KEYS.filter((k) => before.get(`${MAP}:${k}`) === from && after.get(`${MAP}:${k}`) === to);
    assert.ok(moved.length > 0, 'some of the keys did move');
    for (const k of KEYS) {
      for (const phase of ['up', 'moving', 'moved']) {
        for (const r of load.replies(k, phase)) assert.equal(r, `OK ${valueOf(k)}`, `${k} while ${phase}`);
      }
    }
  });

  it('keeps answering the live nodes while one is killed, and all keys once it is back', async (t) => {
    if (!needRedis(t, missing)) return;
    const owners = await cluster!.nodesOf(KEYS.map((k) => `${MAP}:${k}`));
    const victim: PrivateRedis = cluster!.nodes[1]!;
    const onVictim = KEYS.filter((k) => owners.get(`${MAP}:${k}`) === victim);
    const elsewhere = KEYS.filter((k) => owners.get(`${MAP}:${k}`) !== victim);
    assert.ok(onVictim.length > 0 && elsewhere.length > 0);
    // The node's data survives its restart through a snapshot taken now (the nodes run without persistence).
    await victim.cli('save');

    const load = new Load(await Promise.all([1, 2, 3, 4].map(() => daemon!.client())));
    load.start();
    try {
      await waitFor('every key answered under load', async () => KEYS.every((k) => load.replies(k, 'up').length > 0));

      await victim.kill();
      load.phase = 'down';
      await waitFor(
        'TEMP for the dead node and OK for the others',
        async () => onVictim.every((k) => load.replies(k, 'down').some((r) => r.startsWith('TEMP '))) && elsewhere.every((k) => load.replies(k, 'down').length >= 3),
      );

      load.phase = 'restarting';
      await victim.restart();
      await cluster!.waitHealthy();
      load.phase = 'back';
      await waitFor('every key to answer OK again', async () => KEYS.every((k) => load.replies(k, 'back').at(-1) === `OK ${valueOf(k)}`));
    } finally {
      await load.stop();
    }

    for (const k of elsewhere) {
      for (const phase of ['up', 'down', 'restarting', 'back']) {
        for (const r of load.replies(k, phase)) assert.equal(r, `OK ${valueOf(k)}`, `${k} (on a live node) while ${phase}`);
      }
    }
    for (const k of onVictim) {
      // Asked after the node was gone: TEMP, at once, never a TIMEOUT after the 10 s wait.
      for (const r of load.replies(k, 'down')) assert.match(r, /^TEMP Redis Cluster [\d.:,]+: no connection to the node for this key /, `${k} while its node was down`);
    }
  });

  it('answers TEMP at once while the whole cluster is down, and recovers when it is back', async (t) => {
    if (!needRedis(t, missing)) return;
    for (const n of cluster!.nodes) await n.cli('save');
    const c = await daemon!.client();
    assert.equal(await c.query(MAP, KEYS[0]!), `OK ${valueOf(KEYS[0]!)}`);
    await Promise.all(cluster!.nodes.map((n) => n.kill()));
    // Asked over a few seconds: right after the kill, and after the client has noticed and is reconnecting.
    for (let round = 0; round < 10; round++) {
      const started = Date.now();
      const down = await c.pipeline(KEYS.map((k) => [MAP, k] as const));
      for (const r of down) assert.match(r, /^TEMP /);
      assert.ok(Date.now() - started < 3000, `round ${round}: TEMP came at once, not after the 10 s timeout`);
      await new Promise((r) => setTimeout(r, 300));
    }
    for (const n of cluster!.nodes) await n.restart();
    await cluster!.waitHealthy();
    await waitFor('every key to answer OK again', async () => {
      const replies = await c.pipeline(KEYS.map((k) => [MAP, k] as const));
      return replies.every((r, i) => r === `OK ${valueOf(KEYS[i]!)}`);
    });
  });
});
