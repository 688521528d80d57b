/**
 * The ConnInfo of an accepted socket, computed once per connection, for listeners and inetd alike. A client
 * that reaches a dual-stack IPv6 listener over IPv4 shows as `::ffff:a.b.c.d`; it is an IPv4 client and is
 * given as one (family `inet`, plain address), so `from 192.0.2.0/24` rules see it as they would on an IPv4
 * listener.
 */
import type net from 'node:net';
import type { ServerDecl } from '../config/types.js';
import type { ConnInfo } from '../modules/api.js';

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** `::ffff:a.b.c.d` as `a.b.c.d`; any other address as it is. */
export function unmapIPv4(address: string): string {
  const m = MAPPED.exec(address);
  return m ? m[1]! : address;
}

export function connInfoOf(socket: net.Socket, server: ServerDecl | { id: string; url?: undefined }): ConnInfo {
  if (server.url?.kind === 'unix') {
    return { serverId: server.id, family: 'unix', src: '', srcPort: 0, dst: server.url.path, dstPort: 0 };
  }
  const remote = socket.remoteAddress;
  // No remote address: a unix socket (inetd may pass one).
  if (remote === undefined) return { serverId: server.id, family: 'unix', src: '', srcPort: 0, dst: '', dstPort: 0 };
  const src = unmapIPv4(remote);
  const family: ConnInfo['family'] = socket.remoteFamily === 'IPv6' && src === remote ? 'inet6' : 'inet';
  const dst = unmapIPv4(socket.localAddress ?? '');
  return { serverId: server.id, family, src, srcPort: socket.remotePort ?? 0, dst, dstPort: socket.localPort ?? 0 };
}
