/**
 * What the redis tests share: the machine's Redis on 127.0.0.1:6379 (skipped with a message when it is not
 * reachable, failed instead under SMAPD_REQUIRE_DB=1), unique key prefixes, and private redis-server
 * processes on free ports — single servers to stop and start, and a real 3-node Redis Cluster — that the
 * tests own and stop in their after-hooks.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import type { ConnInfo } from '../../src/modules/api.js';
import { freePort } from '../helpers/tcp-relay.js';

export const REDIS_HOST = process.env.SMAPD_TEST_REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.SMAPD_TEST_REDIS_PORT ?? 6379);
const REDIS_SERVER = process.env.SMAPD_REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.SMAPD_REDIS_CLI ?? 'redis-cli';
const START_TIMEOUT_MS = 20_000;

export const conn: ConnInfo = { serverId: 'main', family: 'inet', src: '192.0.2.7', srcPort: 40000, dst: '127.0.0.1', dstPort: 3145 };

export function uniquePrefix(what: string): string {
  return `smapd-test:${what}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** An admin connection to the machine's Redis, or why there is none. */
export async function connectShared(): Promise<{ admin: Redis | null; unavailable: string | null }> {
  const admin = new Redis({ host: REDIS_HOST, port: REDIS_PORT, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    await admin.ping();
    return { admin, unavailable: null };
  } catch (err) {
    admin.disconnect();
    return { admin: null, unavailable: `Redis not reachable at ${REDIS_HOST}:${REDIS_PORT} (${(err as Error).message})` };
  }
}

/** Skip the test when the needed Redis is missing (or fail, under SMAPD_REQUIRE_DB=1). True when it may run. */
export function needRedis(t: TestContext, unavailable: string | null | undefined): boolean {
  if (unavailable === null) return true;
  const why = unavailable ?? 'Redis not reachable (the before() hook did not run)';
  if (process.env.SMAPD_REQUIRE_DB === '1') throw new Error(`${why}; SMAPD_REQUIRE_DB=1 requires it`);
  t.skip(why);
  return false;
}

/** Delete every key under `prefix` (SCAN, never KEYS: the shared server may be busy). */
export async function deletePrefix(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** A port P that is free, with P + 10000 free too (a cluster node's bus port). */
async function freeNodePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p + 10000 > 65535) continue;
    const bus = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      bus.once('error', () => resolve(false));
      bus.listen(p + 10000, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise((r) => bus.close(r));
      return p;
    }
  }
  throw new Error('no free port pair for a cluster node');
}

/** A redis-server process of the tests' own. */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: readonly string[],
    private readonly tls: TlsFiles | undefined,
  ) {}

  /** Start a server on a free port; `cluster` makes it a cluster node (nodes.conf in its own dir). */
  static async start(dir: string, opts: { cluster?: boolean; args?: readonly string[]; tls?: TlsFiles } = {}): Promise<PrivateRedis> {
    const port = opts.cluster ? await freeNodePort() : await freePort();
    const nodeDir = path.join(dir, `node-${port}`);
    mkdirSync(nodeDir, { recursive: true });
    const extra = opts.cluster
      ? [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', path.join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout', '2000',
          // Without replicas, a dead node's slots cannot move: the other nodes must keep serving theirs.
          '--cluster-require-full-coverage', 'no',
        ]
      : [];
    const t = opts.tls;
    // With TLS, the port speaks only TLS (the plain port is turned off).
    const tlsArgs = t === undefined ? [] : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', t.cert, '--tls-key-file', t.key, '--tls-ca-cert-file', t.ca, '--tls-auth-clients', 'no'];
    const r = new PrivateRedis(port, nodeDir, [...extra, ...tlsArgs, ...(opts.args ?? [])], t);
    await r.restart();
    return r;
  }

  /** (Re)start the server on the same port and dir; resolves when it accepts connections. */
  restart(): Promise<void> {
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      const tail: string[] = [];
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server on ${this.port} did not start: ${tail.join(' | ')}`));
      }, START_TIMEOUT_MS);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 10) tail.shift();
        if (/Ready to accept connections/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.resume();
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited with ${code ?? signal}: ${tail.join(' | ')}`));
      });
    });
  }

  /** Kill the server without warning (SIGKILL) and wait until it is gone. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Stop the server if it runs. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.kill('SIGTERM');
    await this.exited;
    clearTimeout(timer);
  }

  cli(...args: string[]): Promise<string> {
    const tls = this.tls === undefined ? [] : ['--tls', '--cacert', this.tls.ca];
    return runCli(['-h', '127.0.0.1', '-p', String(this.port), ...tls, ...args]);
  }
}

export interface TlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A private CA and a server certificate for 127.0.0.1 and localhost, made with openssl in `dir`. */
export function makeCertificates(dir: string): TlsFiles {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=smapd test CA');
  ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('san.ext'));
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Whether redis-server can be run here, or why not. */
export function redisServerMissing(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(REDIS_SERVER, ['--version'], (err) => resolve(err ? `${REDIS_SERVER} cannot be run (${err.message})` : null));
  });
}

/** A tmp dir for private servers. */
export function makeDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'smapd-redis-'));
}

export function removeDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/** Poll `check` until it returns true; for states another process reaches (cluster agreement), bounded. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A 3-master Redis Cluster (no replicas) of the tests' own. */
export class PrivateCluster {
  private constructor(readonly nodes: readonly PrivateRedis[]) {}

  static async start(dir: string, size = 3): Promise<PrivateCluster> {
    const nodes: PrivateRedis[] = [];
    try {
      for (let i = 0; i < size; i++) nodes.push(await PrivateRedis.start(dir, { cluster: true }));
      const c = new PrivateCluster(nodes);
      await runCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
      await c.waitHealthy();
      return c;
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      throw err;
    }
  }

  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** Every node says the cluster is ok and knows all nodes as connected. */
  waitHealthy(): Promise<void> {
    return waitFor('cluster_state:ok on every node', async () => {
      for (const n of this.nodes) {
        if (!/cluster_state:ok/.test(await n.cli('cluster', 'info'))) return false;
        const lines = (await n.cli('cluster', 'nodes')).trim().split('\n');
        if (lines.length !== this.nodes.length || lines.some((l) => /fail|disconnected|handshake/.test(l))) return false;
      }
      return true;
    });
  }

  /** The node that holds each key's slot, by key. */
  async nodesOf(keys: readonly string[]): Promise<Map<string, PrivateRedis>> {
    const admin = new Redis({ host: '127.0.0.1', port: this.nodes[0]!.port, maxRetriesPerRequest: 0 });
    admin.on('error', () => undefined);
    try {
      const ranges = await admin.cluster('SLOTS');
      const out = new Map<string, PrivateRedis>();
      for (const key of keys) {
        const slot = Number(await admin.cluster('KEYSLOT', key));
        const range = ranges.find(([lo, hi]) => slot >= lo && slot <= hi);
        const node = range === undefined ? undefined : this.nodes.find((n) => n.port === Number(range[2]?.[1]));
        if (node === undefined) throw new Error(`no node found for slot ${slot} of ${key}`);
        out.set(key, node);
      }
      return out;
    } finally {
      admin.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
