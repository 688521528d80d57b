/**
 * The sockmap module in front of a real postfix-mta-sts-resolver (`mta-sts-daemon`), as Postfix would use
 * it for `smtp_tls_policy_maps`: smapd's answer must be the resolver's answer, byte for byte. The domains
 * are under `.invalid` and `.test` (RFC 6761), which have no policy anywhere, so the test needs no network.
 * Skipped with a message when mta-sts-daemon is not installed; failed instead under SMAPD_REQUIRE_MTASTS=1.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/tcp-relay.js';
import { askRaw } from '../helpers/ask-raw.js';

const DAEMON = process.env.SMAPD_MTA_STS_DAEMON ?? 'mta-sts-daemon';
const START_TIMEOUT_MS = 20_000;

interface Resolver {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Start mta-sts-daemon on a free loopback port; resolves once it says its server started. */
function startResolver(dir: string, port: number): Promise<Resolver> {
  const conf = path.join(dir, 'mta-sts-daemon.yml');
  writeFileSync(
    conf,
    [`host: 127.0.0.1`, `port: ${port}`, 'cache:', '  type: internal', '  options:', '    cache_size: 100', 'default_zone:', '  strict_testing: false', '  timeout: 2', ''].join('\n'),
  );
  const child = spawn(DAEMON, ['-c', conf, '-v', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mta-sts-daemon did not start within ${START_TIMEOUT_MS} ms: ${tail.join(' | ')}`));
    }, START_TIMEOUT_MS);
    const onLine = (line: string) => {
      tail.push(line);
      if (/Server started/.test(line)) {
        clearTimeout(timer);
        resolve({ child, port });
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`mta-sts-daemon exited with ${code ?? signal}: ${tail.join(' | ')}`));
    });
  });
}

function stopResolver(r: Resolver | undefined): Promise<void> {
  const child = r?.child;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

describe('sockmap module, in front of postfix-mta-sts-resolver', () => {
  let dir: string;
  let resolver: Resolver | undefined;
  let unavailable: string | undefined;
  let front: TestDaemon | undefined;

  const need = (t: TestContext): boolean => {
    if (resolver !== undefined && front !== undefined) return true;
    const why = unavailable ?? 'mta-sts-daemon did not start';
    if (process.env.SMAPD_REQUIRE_MTASTS === '1') throw new Error(`${why}; SMAPD_REQUIRE_MTASTS=1 requires it`);
    t.skip(why);
    return false;
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-mta-sts-'));
    try {
      resolver = await startResolver(dir, await freePort());
    } catch (err) {
      unavailable = `postfix-mta-sts-resolver not usable (${(err as Error).message})`;
      return;
    }
    front = await startDaemon(`
server front inet://127.0.0.1:0
module up sockmap
database mta-sts up url=inet://127.0.0.1:${resolver.port} timeout=30s
dispatch map eq postfix database mta-sts
dispatch default database mta-sts
`);
  });
  after(async () => {
    await front?.stop();
    await stopResolver(resolver);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers what the resolver answers, byte for byte', async (t) => {
    if (!need(t)) return;
    const direct = `inet://127.0.0.1:${resolver!.port}`;
    for (const payload of ['postfix example.invalid', 'postfix mx.nonexistent.test', 'otherzone no-policy.invalid', "postfix o'brien%*.invalid"]) {
      const bytes = Buffer.from(payload);
      const want = await askRaw(direct, bytes, 30_000);
      const got = await askRaw(front!.url(), bytes, 30_000);
      assert.deepEqual(got, want, `${payload}: ${got.toString()} vs ${want.toString()}`);
      // A domain without a policy: the resolver's NOTFOUND, with its space, not an answer of smapd's own.
      assert.equal(got.toString(), '9:NOTFOUND ,');
    }
  });
});
