/**
 * Logging in: the server's greeting (HandshakeV10), the client's answer (HandshakeResponse41, after an
 * SSLRequest and the TLS handshake when ssl-ca= is set), and the exchange that follows until the server says
 * OK: an AuthSwitchRequest to another plugin, caching_sha2_password's fast or full authentication.
 *
 * Plugins: mysql_native_password (MariaDB's and older MySQL's default) and caching_sha2_password (MySQL 8's).
 * caching_sha2_password's full authentication sends the password itself, so it is done only over TLS or a
 * unix socket; over plain TCP it fails with a message that says what to do (MySQL would offer its RSA key
 * there, which an attacker in the middle could replace).
 */
import { createHash } from 'node:crypto';
import { BackendError } from '../../src/modules/api.js';
import { PayloadReader, readError } from './packets.js';

/** Capability flags (the protocol's own names, shortened). */
export const CAP = {
  LONG_PASSWORD: 0x1,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  DEPRECATE_EOF: 0x1000000,
} as const;

/** utf8mb4_general_ci: the connection's character set, as mysql2's `charset: 'utf8mb4'` chose before. */
export const UTF8MB4_GENERAL_CI = 45;
const MAX_PACKET_SIZE = 0x1000000;

/**
 * What smapd asks for, as mysql2 did (IGNORE_SPACE too: it changes how `name (` parses, and configs written
 * against mysql2 must keep their meaning); no LOCAL_FILES (a server could then read smapd's files), no
 * MULTI_STATEMENTS (a query= is one statement).
 */
const WANTED =
  CAP.LONG_PASSWORD |
  CAP.LONG_FLAG |
  CAP.IGNORE_SPACE |
  CAP.PROTOCOL_41 |
  CAP.TRANSACTIONS |
  CAP.SECURE_CONNECTION |
  CAP.MULTI_RESULTS |
  CAP.PS_MULTI_RESULTS |
  CAP.PLUGIN_AUTH |
  CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  CAP.DEPRECATE_EOF;

export interface Greeting {
  readonly serverVersion: string;
  readonly threadId: number;
  readonly capabilities: number;
  readonly scramble: Buffer;
  readonly plugin: string;
}

/** Read the server's first packet; an ERR there (too many connections, a blocked host) is thrown. */
export function readGreeting(buf: Buffer, start: number, end: number): Greeting {
  if (buf[start] === 0xff) throw readError(buf, start, end);
  const r = new PayloadReader(buf, start, end);
  const protocol = r.u8();
  if (protocol !== 10) throw new BackendError(`the server speaks protocol version ${protocol}, not 10`);
  const serverVersion = r.nulText();
  const threadId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  r.skip(1 + 2); // character set, status flags
  capabilities |= r.u16() << 16;
  capabilities >>>= 0;
  const dataLength = r.u8();
  r.skip(10);
  let part2: Buffer = Buffer.alloc(0);
  if (capabilities & CAP.SECURE_CONNECTION) {
    part2 = r.bytes(Math.min(r.left, Math.max(13, dataLength - 8)));
    // The second part ends with a NUL that is not part of the 20-byte scramble.
    if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, -1);
  }
  const plugin = capabilities & CAP.PLUGIN_AUTH && r.left > 0 ? r.nulText() : 'mysql_native_password';
  return { serverVersion, threadId, capabilities, scramble: Buffer.concat([part1, part2]), plugin };
}

function sha(algorithm: 'sha1' | 'sha256', ...parts: Buffer[]): Buffer {
  const h = createHash(algorithm);
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

/** mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); empty for no password. */
export function nativePasswordToken(password: string, scramble: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha('sha1', Buffer.from(password, 'utf8'));
  return xor(stage1, sha('sha1', scramble.subarray(0, 20), sha('sha1', stage1)));
}

/** caching_sha2_password: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble); empty for none. */
export function cachingSha2Token(password: string, scramble: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha('sha256', Buffer.from(password, 'utf8'));
  return xor(stage1, sha('sha256', sha('sha256', stage1), scramble.subarray(0, 20)));
}

function authToken(plugin: string, password: string, scramble: Buffer): Buffer {
  if (plugin === 'mysql_native_password') return nativePasswordToken(password, scramble);
  if (plugin === 'caching_sha2_password') return cachingSha2Token(password, scramble);
  throw new BackendError(`the server asks for the authentication plugin ${plugin}, which smapd does not speak (it speaks mysql_native_password and caching_sha2_password)`);
}

export interface LoginSettings {
  readonly user: string;
  readonly password: string;
  readonly database: string | undefined;
  readonly tls: boolean;
  /** A unix socket: as private as TLS for sending a password. */
  readonly socket: boolean;
}

/** What the connection does next: send these payloads (with sequence ids from `seq`), start TLS, or it is in. */
export type LoginStep =
  | { readonly kind: 'send'; readonly payload: Buffer; readonly seq: number }
  | { readonly kind: 'tls-then-send'; readonly ssl: Buffer; readonly payload: Buffer; readonly seq: number }
  | { readonly kind: 'wait' }
  | { readonly kind: 'done' };

/** The login exchange of one connection, fed the server's packets in order. */
export class Login {
  private greeting: Greeting | null = null;
  private plugin = '';
  private scramble: Buffer = Buffer.alloc(0);
  private capabilities = 0;

  constructor(private readonly s: LoginSettings) {}

  get threadId(): number {
    return this.greeting?.threadId ?? 0;
  }

  /** The capabilities both sides have (known once the greeting is read). */
  get agreed(): number {
    return this.capabilities;
  }

  /** The next step after the server's packet `seq`; throws BackendError when the login fails. */
  onPacket(buf: Buffer, start: number, end: number, seq: number): LoginStep {
    if (this.greeting === null) return this.answerGreeting(readGreeting(buf, start, end));
    const first = buf[start];
    if (first === 0x00) return { kind: 'done' };
    if (first === 0xff) throw readError(buf, start, end);
    if (first === 0xfe) {
      // AuthSwitchRequest: another plugin, with a new scramble.
      const r = new PayloadReader(buf, start + 1, end);
      this.plugin = r.nulText();
      this.scramble = r.restBytes();
      return { kind: 'send', payload: authToken(this.plugin, this.s.password, this.scramble), seq: seq + 1 };
    }
    if (first === 0x01 && this.plugin === 'caching_sha2_password') return this.cachingSha2More(buf[start + 1], seq);
    throw new BackendError(`unexpected packet 0x${(first ?? 0).toString(16)} while logging in with ${this.plugin}`);
  }

  private answerGreeting(g: Greeting): LoginStep {
    this.greeting = g;
    const need = CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION;
    if ((g.capabilities & need) !== need) throw new BackendError(`the server (${g.serverVersion}) is too old: it lacks the 4.1 protocol`);
    let caps = (WANTED & g.capabilities) | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION;
    if (this.s.database !== undefined) caps |= CAP.CONNECT_WITH_DB;
    if (this.s.tls) {
      if (!(g.capabilities & CAP.SSL)) throw new BackendError('ssl-ca= is set, but the server does not offer TLS');
      caps |= CAP.SSL;
    }
    this.capabilities = caps >>> 0;
    this.plugin = g.plugin === 'caching_sha2_password' ? g.plugin : 'mysql_native_password';
    this.scramble = g.scramble;
    const payload = this.response();
    if (!this.s.tls) return { kind: 'send', payload, seq: 1 };
    return { kind: 'tls-then-send', ssl: this.fixedPart(), payload, seq: 1 };
  }

  /** caching_sha2_password's AuthMoreData: 3 = the server's cache knew the password, 4 = send it in full. */
  private cachingSha2More(status: number | undefined, seq: number): LoginStep {
    if (status === 3) return { kind: 'wait' };
    if (status !== 4) throw new BackendError(`unexpected caching_sha2_password status ${status}`);
    if (!this.s.tls && !this.s.socket) {
      throw new BackendError(
        'caching_sha2_password wants the full password, which smapd sends only over TLS or a unix socket: set ssl-ca= or socket=, or log in once with another client so the server caches the password, or use mysql_native_password for this user',
      );
    }
    return { kind: 'send', payload: Buffer.concat([Buffer.from(this.s.password, 'utf8'), Buffer.from([0])]), seq: seq + 1 };
  }

  /** Capabilities, maximum packet size, character set, 23 zero bytes: the SSLRequest, and the start of the response. */
  private fixedPart(): Buffer {
    const b = Buffer.alloc(32);
    b.writeUInt32LE(this.capabilities, 0);
    b.writeUInt32LE(MAX_PACKET_SIZE, 4);
    b[8] = UTF8MB4_GENERAL_CI;
    return b;
  }

  private response(): Buffer {
    const token = authToken(this.plugin, this.s.password, this.scramble);
    const parts = [this.fixedPart(), Buffer.from(this.s.user + '\0', 'utf8')];
    // The token is at most 32 bytes: its length is one byte both as a length-encoded integer (with
    // PLUGIN_AUTH_LENENC_CLIENT_DATA) and in the older 1-byte form.
    parts.push(Buffer.from([token.length]), token);
    if (this.capabilities & CAP.CONNECT_WITH_DB) parts.push(Buffer.from(this.s.database + '\0', 'utf8'));
    if (this.capabilities & CAP.PLUGIN_AUTH) parts.push(Buffer.from(this.plugin + '\0', 'latin1'));
    return Buffer.concat(parts);
  }
}
