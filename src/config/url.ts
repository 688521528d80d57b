/**
 * Listener URLs of `server` statements: GNU Smap's `inet://HOST:PORT`, `unix:///path`, `local:///path` and a
 * bare `/path`, plus IPv6, which GNU Smap lacks: `inet6://[ADDR]:PORT` and `inet://[ADDR]:PORT`.
 */
import net from 'node:net';
import { ConfigError } from '../errors.js';
import type { ListenUrl } from './types.js';

// Host names as RFC 1123 allows them; anything else is more likely a typo than a real name.
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Parse a decimal port 0-65535 (0 lets the system choose, which tests use). */
export function parsePort(text: string, what: string): number {
  if (text === '') throw new ConfigError(`${what}: missing port number`);
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(`${what}: port must be a number 0-65535, not '${text}' (service names are not supported)`);
  }
  const port = Number(text);
  if (port > 65535) throw new ConfigError(`${what}: port ${text} is out of range (0-65535)`);
  return port;
}

/**
 * Split `HOST:PORT` or `[V6]:PORT`. Returns the host without brackets and whether it was bracketed.
 * Used for listener URLs and for `metrics-listen`.
 */
export function splitHostPort(text: string, what: string): { host: string; port: number; bracketed: boolean } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new ConfigError(`${what}: missing ']' after the IPv6 address`);
    const host = text.slice(1, close);
    if (!net.isIPv6(host)) throw new ConfigError(`${what}: '${host}' is not an IPv6 address`);
    const rest = text.slice(close + 1);
    if (!rest.startsWith(':')) throw new ConfigError(`${what}: expected ':PORT' after '[${host}]'`);
    return { host, port: parsePort(rest.slice(1), what), bracketed: true };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new ConfigError(`${what}: missing ':PORT'`);
  const host = text.slice(0, colon);
  if (host.includes(':')) {
    throw new ConfigError(`${what}: write an IPv6 address in brackets, as [${host}]:PORT`);
  }
  if (host === '') throw new ConfigError(`${what}: missing host before ':PORT'`);
  if (!net.isIPv4(host) && !HOST_NAME.test(host)) throw new ConfigError(`${what}: invalid host name '${host}'`);
  return { host, port: parsePort(text.slice(colon + 1), what), bracketed: false };
}

function unixPath(path: string, text: string): ListenUrl {
  if (!path.startsWith('/')) {
    throw new ConfigError(`'${text}': the socket path must be absolute (unix:///path/to/socket)`);
  }
  if (path.length === 1 || path.endsWith('/')) throw new ConfigError(`'${text}': the socket path names a directory`);
  if (path.includes('\0')) throw new ConfigError(`'${text}': the socket path contains a NUL byte`);
  return { kind: 'unix', path, text };
}

/** Parse a listener URL; a bad one throws a `ConfigError` without a location (the caller knows the place). */
export function parseListenUrl(text: string): ListenUrl {
  if (text.startsWith('/')) return unixPath(text, text);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(text);
  if (!m) {
    throw new ConfigError(
      `'${text}' is not a listener URL (inet://HOST:PORT, inet6://[ADDR]:PORT, unix:///PATH, or /PATH)`,
    );
  }
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case 'unix':
    case 'local':
      return unixPath(rest, text);
    case 'inet': {
      const { host, port, bracketed } = splitHostPort(rest, `'${text}'`);
      return bracketed ? { kind: 'inet6', host, port, text } : { kind: 'inet', host, port, text };
    }
    case 'inet6': {
      const { host, port, bracketed } = splitHostPort(rest, `'${text}'`);
      if (!bracketed) throw new ConfigError(`'${text}': write the address in brackets, as inet6://[ADDR]:PORT`);
      return { kind: 'inet6', host, port, text };
    }
    default:
      throw new ConfigError(`'${text}': unknown scheme '${m[1]}' (use inet, inet6, unix or local)`);
  }
}
