/** Start a real smapd in-process from config text, on port 0 / temp unix sockets; stop it after the test. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/parser.js';
import { Smapd } from '../../src/server/daemon.js';
import { SmapClient } from '../../src/client/client.js';
import { silentLogger } from './module-context.js';
import type { Logger } from 'pino';
import { fixture } from './paths.js';

export interface TestDaemon {
  readonly daemon: Smapd;
  readonly dir: string;
  /** `server` id → URL a client can connect to. */
  url(serverId?: string): string;
  /** The TCP port of an inet `server`. */
  port(serverId?: string): number;
  client(serverId?: string): Promise<SmapClient>;
  stop(): Promise<void>;
}

/**
 * `configText` may use `@DIR@` for the temp dir and `@FIXTURES@` for test/fixtures. The fixture module dir
 * is on the load path, so `module t testmod` works.
 */
export async function startDaemon(configText: string, log: Logger = silentLogger): Promise<TestDaemon> {
  const dir = mkdtempSync(path.join(tmpdir(), 'smapd-test-'));
  const text = `prepend-load-path ${fixture('modules')}\n` + configText.replaceAll('@DIR@', dir).replaceAll('@FIXTURES@', fixture());
  const file = path.join(dir, 'smapd.conf');
  writeFileSync(file, text);
  const config = loadConfig(file);
  const daemon = await Smapd.create(config, log);
  await daemon.listen();
  const clients: SmapClient[] = [];
  const url = (id?: string) => {
    const addrs = daemon.addresses;
    const a = id === undefined ? [...addrs.values()][0] : addrs.get(id);
    if (a === undefined) throw new Error(`no server ${id}`);
    return a;
  };
  return {
    daemon,
    dir,
    url,
    port(id?: string) {
      const m = /:(\d+)$/.exec(url(id));
      if (m === null) throw new Error(`server ${id ?? '(first)'} has no TCP port: ${url(id)}`);
      return Number(m[1]);
    },
    async client(id?: string) {
      const c = await SmapClient.connect({ url: url(id), timeoutMs: 10000 });
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
