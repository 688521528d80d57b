/**
 * The password exchanges of PostgreSQL's authentication: md5 (AuthenticationMD5Password) and SCRAM-SHA-256
 * (SASL, RFC 5802 and RFC 7677, as the PostgreSQL manual's SASL section profiles it: the user name goes in
 * the startup packet, so the SCRAM user name is empty; no channel binding, so the GS2 header is `n,,`).
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { BackendError } from '../../src/modules/api.js';

/** md5 authentication's answer: "md5" + md5(md5(password + user) + salt), in hex. */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
}

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function pbkdf2Sha256(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))));
}

/** The attributes of a SCRAM message: `r=...,s=...,i=...` (a value may itself hold `=`). */
function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length >= 2 && part[1] === '=') out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** One SCRAM-SHA-256 exchange: first(), then final(server-first), then verify(server-final). */
export class ScramClient {
  private readonly nonce = randomBytes(18).toString('base64');
  private readonly firstBare = `n=,r=${this.nonce}`;
  private serverSignature: Buffer | null = null;

  constructor(private readonly password: string) {}

  /** The client-first-message, sent in SASLInitialResponse. */
  first(): string {
    return 'n,,' + this.firstBare;
  }

  /** The client-final-message with the proof, from the server-first-message (AuthenticationSASLContinue). */
  async final(serverFirst: string): Promise<string> {
    const a = attributes(serverFirst);
    const nonce = a.get('r') ?? '';
    const salt = Buffer.from(a.get('s') ?? '', 'base64');
    const iterations = Number(a.get('i'));
    if (!nonce.startsWith(this.nonce) || nonce.length <= this.nonce.length) throw new BackendError('SCRAM: the server nonce does not extend ours');
    if (salt.length === 0 || !Number.isInteger(iterations) || iterations < 1) throw new BackendError('SCRAM: malformed server-first-message');
    // "biws" is base64 of the GS2 header `n,,`: no channel binding.
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.firstBare},${serverFirst},${withoutProof}`;
    const salted = await pbkdf2Sha256(this.password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Check the server's signature (AuthenticationSASLFinal): it proves the server knew the password too. */
  verify(serverFinal: string): void {
    const a = attributes(serverFinal);
    if (a.has('e')) throw new BackendError(`SCRAM: the server refused: ${a.get('e')}`);
    const got = Buffer.from(a.get('v') ?? '', 'base64');
    const want = this.serverSignature;
    if (want === null || got.length !== want.length || !timingSafeEqual(got, want)) throw new BackendError('SCRAM: the server signature does not match');
  }
}
