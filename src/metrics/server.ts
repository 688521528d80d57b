/**
 * The HTTP endpoint for monitoring: `GET /metrics` (Prometheus text) and `GET /health` (200 `ok`, or 503
 * `stopping` once shutdown began, so a load balancer stops sending before the listeners close). It binds
 * only the address the config names: nothing here needs to be reachable from outside.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ControlTarget } from '../control/target.js';
import { ListenError } from '../errors.js';
import { CONTENT_TYPE, renderMetrics } from './exposition.js';
import { ProcessMetrics } from './process.js';

export interface MetricsServer {
  /** The address bound (the real port when the config said 0). */
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

/** A scrape is a few kilobytes; anything slow is a stuck client holding a socket. */
const REQUEST_TIMEOUT_MS = 10_000;

export async function startMetricsServer(
  listen: { readonly host: string; readonly port: number },
  target: ControlTarget,
  log: Logger,
): Promise<MetricsServer> {
  const processMetrics = new ProcessMetrics();
  const server = http.createServer((req, res) => respond(req, res, target, log, processMetrics));
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ListenError(`metrics-listen ${listen.host}:${listen.port}: cannot listen: ${err.message}`, { cause: err })),
    );
    server.listen({ host: listen.host, port: listen.port }, resolve);
  });
  server.on('error', (err) => log.error({ err: err.message }, 'metrics server error'));
  const a = server.address() as AddressInfo;
  log.info({ host: a.address, port: a.port }, 'metrics listening');

  let closing: Promise<void> | null = null;
  return {
    address: { host: a.address, port: a.port },
    close() {
      closing ??= new Promise<void>((resolve) => {
        processMetrics.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function respond(req: http.IncomingMessage, res: http.ServerResponse, target: ControlTarget, log: Logger, processMetrics: ProcessMetrics): void {
  const path = (req.url ?? '/').split('?', 1)[0];
  const send = (status: number, body: string, type = 'text/plain; charset=utf-8', extra: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (path !== '/metrics' && path !== '/health') {
    send(404, 'not found: try /metrics or /health\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(405, 'method not allowed\n', undefined, { Allow: 'GET, HEAD' });
    return;
  }
  if (path === '/health') {
    if (target.stopping()) send(503, 'stopping\n');
    else send(200, 'ok\n');
    return;
  }
  let body: string;
  try {
    body = renderMetrics(target, Date.now(), processMetrics);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'metrics: cannot render');
    send(500, 'cannot render metrics\n');
    return;
  }
  send(200, body, CONTENT_TYPE);
}
