/** The ConnInfo of an accepted socket, computed once per connection. */
import type net from 'node:net';
import type { ServerDecl } from '../config/types.js';
import type { ConnInfo } from '../modules/api.js';

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

export function connInfoOf(socket: net.Socket, server: ServerDecl | { id: string; url?: undefined }): ConnInfo {
  if (server.url?.kind === 'unix') {
    return { serverId: server.id, family: 'unix', src: '', srcPort: 0, dst: server.url.path, dstPort: 0 };
  }
  let src = socket.remoteAddress ?? '';
  let dst = socket.localAddress ?? '';
  let family: ConnInfo['family'] = socket.remoteFamily === 'IPv6' ? 'inet6' : 'inet';
  const m = MAPPED.exec(src);
  if (m) {
    src = m[1]!;
    family = 'inet';
  }
  const md = MAPPED.exec(dst);
  if (md) dst = md[1]!;
  if (src === '' && socket.remoteAddress === undefined) {
    return { serverId: server.id, family: 'unix', src: '', srcPort: 0, dst: '', dstPort: 0 };
  }
  return { serverId: server.id, family, src, srcPort: socket.remotePort ?? 0, dst, dstPort: socket.localPort ?? 0 };
}
