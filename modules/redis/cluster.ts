/**
 * Redis Cluster through ioredis, which follows the slot map, MOVED and ASK. ioredis's defaults suit a job
 * queue, not a mail server: it would queue commands without limit while disconnected and retry each one
 * twenty times, so an SMTP transaction would hang for as long as the cluster is down. Here a lookup fails at
 * once while the cluster is not ready (the client answers TEMP), reconnection goes on in the background, and
 * lookups succeed again as soon as the node is back. (One server, `url=`, goes through link.ts instead.)
 */
import type { ConnectionOptions } from 'node:tls';
import { Cluster, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { BackendError, BackendTimeoutError, bytesToText, errorDetail } from '../../src/modules/api.js';
import type { RespArg } from './resp.js';
import type { ServerSettings } from './settings.js';

/** Reconnect delays grow to this, so a cluster that comes back is found within a second. */
const MAX_RECONNECT_DELAY_MS = 1000;

const reconnectDelay = (times: number): number => Math.min(times * 100, MAX_RECONNECT_DELAY_MS);

/** A redirection the cluster client could not follow (the node it points to is down), not a data error. */
const CLUSTER_REDIRECT = /^(?:MOVED|ASK|CLUSTERDOWN|TRYAGAIN) /;

/**
 * TLS with the server certificate verified, against `tls-cacert` when given (else the system's CAs). The
 * name checked is each node's own host (a name, or an address against the certificate's IP SANs).
 */
function tlsOptions(s: ServerSettings): ConnectionOptions {
  return s.tlsCa !== undefined ? { ca: s.tlsCa } : {};
}

/** Connection options of every node of the cluster. */
function nodeOptions(s: ServerSettings): RedisOptions {
  return {
    username: s.username,
    password: s.password,
    connectTimeout: s.connectTimeoutMs,
    // A command in flight when the connection drops fails instead of being sent again after a reconnect:
    // the client has long got TEMP by then, and lookups are cheap to ask again.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: true,
    connectionName: 'smapd',
    ...(s.tls ? { tls: tlsOptions(s) } : {}),
  };
}

function createCluster(s: ServerSettings): Cluster {
  const opts: ClusterOptions = {
    redisOptions: nodeOptions(s),
    // Without the queue, a lookup for a node whose connection is still being made (at start, after a node
    // came back) fails although the node is fine. The queue is only used while the cluster as a whole is not
    // ready, and read() answers TEMP itself then, without sending.
    enableOfflineQueue: true,
    lazyConnect: true,
    // Auto-pipelining groups commands by node when they are queued; while slots migrate, a group can end up
    // holding keys of two nodes and ioredis fails it whole ("All keys in the pipeline should belong to the
    // same slots allocation group"). Commands are still sent without waiting for earlier replies.
    enableAutoPipelining: false,
    clusterRetryStrategy: reconnectDelay,
    // A node connection that breaks is not redialled in the background (a command would wait in its queue
    // for the next attempt): the next lookup for the node's slots dials it, and fails at once while it
    // refuses. A dead node's slots stay assigned to it, so waiting and retrying would not help either.
    clusterNodeRetryStrategy: null,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    maxRedirections: 4,
    slotsRefreshTimeout: s.connectTimeoutMs,
    slotsRefreshInterval: 5000,
  };
  return new Cluster(
    s.nodes.map((n) => ({ host: n.host, port: n.port })),
    opts,
  );
}

export class RedisCluster {
  private constructor(
    private readonly client: Cluster,
    private readonly s: ServerSettings,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Connect, and wait until the slot map is known or `connect-timeout` passes. On failure the client is shut
   * down and a BackendError says why.
   */
  static async open(s: ServerSettings, timeoutMs: number, log: Logger): Promise<RedisCluster> {
    const client = createCluster(s);
    let lastError = '';
    // ioredis reports every failed (re)connect as an 'error' event; without a listener Node would crash.
    client.on('error', (err: unknown) => {
      const why = errorDetail(err);
      if (why !== lastError) log.warn({ redis: s.describe, err: why }, 'redis connection error');
      lastError = why;
    });
    client.on('ready', () => {
      if (lastError !== '') log.info({ redis: s.describe }, 'redis connection ready again');
      lastError = '';
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendTimeoutError(`no connection within ${s.connectTimeoutMs} ms`)), s.connectTimeoutMs);
    });
    try {
      await Promise.race([client.connect(), late]);
    } catch (err) {
      client.disconnect();
      throw new BackendError(`cannot connect to Redis at ${s.describe}: ${lastError || errorDetail(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return new RedisCluster(client, s, timeoutMs);
  }

  /** As RedisLink.read: the value or null; rejects with a BackendError in words for TEMP, or a timeout. */
  read(key: RespArg, field: RespArg | undefined): Promise<string | null> {
    const client = this.client;
    if (client.status !== 'ready') return Promise.reject(new BackendError(`no connection to Redis Cluster ${this.s.describe} (${client.status})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BackendTimeoutError(`no answer from Redis at ${this.s.describe} within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      const cmd = field === undefined ? client.getBuffer(key) : client.hgetBuffer(key, field);
      cmd.then(
        (v) => {
          clearTimeout(timer);
          resolve(v === null ? null : bytesToText(v));
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(new BackendError(this.failureText(err), { cause: err }));
        },
      );
    });
  }

  /** Close: let commands in flight finish, or cut them after a short wait. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.quit().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 2000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.client.disconnect();
    }
  }

  /**
   * Why a lookup failed, in words an administrator reads in a TEMP reply. ioredis words a missing connection
   * in terms of its own options ("enableOfflineQueue", "max retries per request"), so say what it means; an
   * error that Redis itself sent (WRONGTYPE, NOAUTH) is kept as it is.
   */
  private failureText(err: unknown): string {
    const text = errorDetail(err);
    if (this.client.status !== 'ready') return `no connection to Redis Cluster ${this.s.describe} (${this.client.status})`;
    if (!(err instanceof ReplyError) || CLUSTER_REDIRECT.test(text)) return `Redis Cluster ${this.s.describe}: no connection to the node for this key (${text})`;
    return text;
  }
}
