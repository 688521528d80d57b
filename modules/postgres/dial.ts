/**
 * Reaching one PostgreSQL server: a TCP or unix socket, then for the TLS sslmodes the SSLRequest and the TLS
 * handshake, with sslcert/sslkey/sslrootcert/sslcrl as libpq uses them; and the CancelRequest, which goes over
 * a connection of its own.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import { BackendError, errorDetail } from '../../src/modules/api.js';
import type { Endpoint, SslSettings } from './settings.js';
import { cancelRequest, SSL_REQUEST } from './wire.js';

/** The server's answers to SSLRequest. */
const TLS_YES = 0x53; // 'S'
const TLS_NO = 0x4e; // 'N'

export interface Dialled {
  readonly socket: net.Socket;
  /** False when sslmode=prefer met a server without TLS. */
  readonly encrypted: boolean;
}

function connectSocket(e: Endpoint): net.Socket {
  return e.socket ? net.connect({ path: `${e.address}/.s.PGSQL.${e.port}` }) : net.connect({ host: e.address, port: e.port });
}

/**
 * Connect, and when `wantTls`, ask for TLS: a server without it is fine only when `plainIfNoTls`
 * (sslmode=prefer). `track` sees every socket made, so the caller can destroy it when its time runs out.
 * The socket is handed back paused, before anything of the startup.
 */
export function dial(e: Endpoint, ssl: SslSettings, wantTls: boolean, plainIfNoTls: boolean, track: (s: net.Socket) => void): Promise<Dialled> {
  return new Promise((resolve, reject) => {
    const sock = connectSocket(e);
    track(sock);
    sock.once('error', reject);
    sock.once('connect', () => {
      if (!e.socket) sock.setNoDelay(true);
      if (!wantTls) {
        sock.pause();
        sock.removeListener('error', reject);
        return resolve({ socket: sock, encrypted: false });
      }
      sock.write(SSL_REQUEST);
      sock.once('data', (answer: Buffer) => {
        sock.pause();
        if (answer[0] === TLS_NO) {
          if (!plainIfNoTls) return reject(new BackendError(`the server does not support SSL connections (sslmode=${ssl.mode})`));
          sock.removeListener('error', reject);
          return resolve({ socket: sock, encrypted: false });
        }
        if (answer[0] !== TLS_YES || answer.length !== 1) return reject(new BackendError('the server answered the SSLRequest with something else than S or N'));
        // Read at each connection, as libpq does (renewed files are taken up): one that cannot be read now,
        // or that holds no usable key or certificate, fails this connect, not the process.
        let secure: tls.TLSSocket;
        try {
          secure = tls.connect({ socket: sock, ...tlsOptions(ssl, e) });
        } catch (err) {
          return reject(err instanceof BackendError ? err : new BackendError(`cannot set up TLS: ${errorDetail(err)}`, { cause: err }));
        }
        track(secure);
        secure.once('error', reject);
        secure.once('secureConnect', () => {
          secure.pause();
          secure.removeListener('error', reject);
          resolve({ socket: secure, encrypted: true });
        });
      });
    });
  });
}

/** A file of sslcert=, sslkey=, sslcrl= or sslrootcert=; a BackendError that names it when it cannot be read. */
function readSslFile(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new BackendError(`cannot read ${option} file ${file}: ${errorDetail(err)}`, { cause: err });
  }
}

function tlsOptions(ssl: SslSettings, e: Endpoint): ConnectionOptions {
  const opts: ConnectionOptions = {};
  if (ssl.cert !== undefined && ssl.key !== undefined) {
    opts.cert = readSslFile('sslcert', ssl.cert);
    opts.key = readSslFile('sslkey', ssl.key);
  }
  if (ssl.crl !== undefined) opts.crl = readSslFile('sslcrl', ssl.crl);
  if (ssl.rootCert !== undefined && ssl.rootCert !== 'system') opts.ca = readSslFile('sslrootcert', ssl.rootCert);
  // libpq: prefer encrypts without checking; require checks the CA only when a root certificate is there.
  const verify = ssl.mode === 'verify-ca' || ssl.mode === 'verify-full' || (ssl.mode === 'require' && ssl.rootCert !== undefined);
  opts.rejectUnauthorized = verify;
  if (verify && ssl.mode !== 'verify-full') opts.checkServerIdentity = () => undefined;
  // The certificate must name the host, also when hostaddr= says where to connect. No SNI for an address.
  opts.host = e.host;
  if (net.isIP(e.host) === 0) opts.servername = e.host;
  return opts;
}

/** Ask the server to stop what backend `pid` runs (PostgreSQL's CancelRequest); the server then hangs up. */
export function sendCancel(e: Endpoint, pid: number, secret: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connectSocket(e);
    const timer = setTimeout(() => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', () => sock.end(cancelRequest(pid, secret)));
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve();
    });
    sock.resume();
  });
}
