/**
 * Opening an ioredis client the way a lookup daemon needs it. ioredis's defaults suit a job queue, not a mail
 * server: it would queue commands without limit while disconnected and retry each one twenty times, so an
 * SMTP transaction would hang for as long as Redis is down. Here a command fails at once while there is no
 * connection (the client answers TEMP), reconnection goes on in the background, and lookups succeed again as
 * soon as the server (or the cluster node) is back.
 */
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { BackendError, BackendTimeoutError, errorDetail } from '../../src/modules/api.js';
import type { ServerSettings } from './settings.js';

/** Reconnect delays grow to this, so a server that comes back is found within a second. */
export const MAX_RECONNECT_DELAY_MS = 1000;

export type RedisClient = Redis | Cluster;

const reconnectDelay = (times: number): number => Math.min(times * 100, MAX_RECONNECT_DELAY_MS);

/**
 * TLS with the server certificate verified, against `tls-cacert` when given (else the system's CAs). The
 * name checked is each node's own host (a name, or an address against the certificate's IP SANs).
 */
function tlsOptions(s: ServerSettings): ConnectionOptions {
  return s.tlsCa !== undefined ? { ca: s.tlsCa } : {};
}

/** Connection options shared by a single server and every node of a cluster. */
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

function createClient(s: ServerSettings): RedisClient {
  if (s.mode === 'server') {
    const node = s.nodes[0]!;
    return new Redis({
      ...nodeOptions(s),
      // Lookups made in the same event-loop turn leave in one write.
      enableAutoPipelining: true,
      host: node.host,
      port: node.port,
      db: s.db,
      enableOfflineQueue: false,
      retryStrategy: reconnectDelay,
    });
  }
  const opts: ClusterOptions = {
    redisOptions: nodeOptions(s),
    // Without the queue, a lookup for a node whose connection is still being made (at start, after a node
    // came back) fails although the node is fine. The queue is only used while the cluster as a whole is not
    // ready, and the module answers TEMP itself then, without sending (see index.ts).
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

/**
 * Connect, and wait until the client is ready (for a cluster: the slot map is known) or `connect-timeout`
 * passes. On failure the client is shut down and a BackendError says why.
 */
export async function openClient(s: ServerSettings, log: Logger): Promise<RedisClient> {
  const client = createClient(s);
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
  return client;
}

/** Close the client: let commands in flight finish, or cut them after a short wait. */
export async function closeClient(client: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
