/**
 * The connection limits, kept in one place for the single process (daemon.ts) and for the primary of
 * `workers N` (cluster.ts), which each count the connections they hold: `max-connections` (global and per
 * server) and `max-connections-per-address`. Unix-socket clients have no address and are not counted per
 * address: they are local processes (a chrooted Postfix), and all would share the one empty address.
 */
import type net from 'node:net';
import type { ServerDecl, SmapdConfig } from '../config/types.js';
import { unmapIPv4 } from './conninfo.js';

/** Which limit a new connection hits, in the words of the statement that sets it. */
export type LimitHit = 'max-connections' | 'server max-connections' | 'max-connections-per-address';

/** The address a connection is counted under; '' for a unix-socket client. */
export function addressKey(socket: net.Socket): string {
  return socket.remoteAddress === undefined ? '' : unmapIPv4(socket.remoteAddress);
}

/** Open connections by server and by client address. */
export class OpenCounts {
  total = 0;
  private readonly byServer = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();

  add(serverId: string, address: string, delta = 1): void {
    this.total = Math.max(0, this.total + delta);
    bump(this.byServer, serverId, delta);
    if (address !== '') bump(this.byAddress, address, delta);
  }

  onServer(serverId: string): number {
    return this.byServer.get(serverId) ?? 0;
  }

  fromAddress(address: string): number {
    return address === '' ? 0 : (this.byAddress.get(address) ?? 0);
  }

  /** The limit a new connection to `decl` from `address` would pass, or undefined when it fits. */
  limitHit(config: SmapdConfig, decl: ServerDecl | undefined, address: string): LimitHit | undefined {
    if (address !== '' && config.maxConnectionsPerAddress > 0 && this.fromAddress(address) >= config.maxConnectionsPerAddress) {
      return 'max-connections-per-address';
    }
    if (decl !== undefined && decl.maxConnections > 0 && this.onServer(decl.id) >= decl.maxConnections) return 'server max-connections';
    if (config.maxConnections > 0 && this.total >= config.maxConnections) return 'max-connections';
    return undefined;
  }
}

function bump(m: Map<string, number>, k: string, delta: number): void {
  const n = (m.get(k) ?? 0) + delta;
  if (n > 0) m.set(k, n);
  else m.delete(k);
}
