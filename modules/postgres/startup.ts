/**
 * The start of a connection after the startup packet: the authentication the server asks for (trust,
 * cleartext, md5, SCRAM-SHA-256), message by message, up to the first ReadyForQuery.
 */
import { BackendError } from '../../src/modules/api.js';
import { md5Password, SCRAM_SHA_256, ScramClient } from './scram.js';
import { serverError } from './server-error.js';
import * as W from './wire.js';

/** What the authentication needs from its connection. */
export interface StartupLink {
  readonly user: string;
  /** The password (password=, else the password file); throws when there is none. */
  password(): string;
  write(bytes: Buffer): void;
  /** Cut the connection (the login failed). */
  drop(why: string): void;
}

/** The startup's authentication, message by message, up to the first ReadyForQuery. */
export class Startup {
  private scram: ScramClient | null = null;
  private settled = false;

  constructor(
    private readonly link: StartupLink,
    private readonly resolve: () => void,
    private readonly reject: (err: Error) => void,
  ) {}

  done(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve();
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  message(type: number, buf: Buffer, start: number, end: number): void {
    try {
      if (type === 0x45 /* E */) this.fail(serverError(buf, start, end));
      else if (type === 0x52 /* R */) this.authenticate(buf.readInt32BE(start), buf, start + 4, end);
    } catch (err) {
      this.fail(err instanceof Error ? err : new BackendError(String(err)));
      this.link.drop('the login failed');
    }
  }

  private authenticate(code: number, buf: Buffer, start: number, end: number): void {
    switch (code) {
      case 0: // AuthenticationOk
        return;
      case 3: // cleartext password
        return this.link.write(W.passwordMessage(this.link.password()));
      case 5: // md5, with a 4-byte salt
        return this.link.write(W.passwordMessage(md5Password(this.link.user, this.link.password(), buf.subarray(start, start + 4))));
      case 10: {
        const mechanisms = W.readCStrings(buf, start, end);
        if (!mechanisms.includes(SCRAM_SHA_256)) {
          throw new BackendError(`the server offers only SASL ${mechanisms.join(', ')}; smapd speaks SCRAM-SHA-256 without channel binding`);
        }
        this.scram = new ScramClient(this.link.password());
        return this.link.write(W.saslInitialResponse(SCRAM_SHA_256, this.scram.first()));
      }
      case 11: {
        const scram = this.scram;
        if (scram === null) throw new BackendError('SASL continue without a SASL start');
        scram.final(buf.toString('utf8', start, end)).then(
          (msg) => this.link.write(W.saslResponse(msg)),
          (err: unknown) => {
            this.fail(err instanceof Error ? err : new BackendError(String(err)));
            this.link.drop('the login failed');
          },
        );
        return;
      }
      case 12:
        if (this.scram === null) throw new BackendError('SASL final without a SASL start');
        return this.scram.verify(buf.toString('utf8', start, end));
      default:
        throw new BackendError(`the server asks for authentication method ${code} (Kerberos, GSSAPI or SSPI), which smapd does not support`);
    }
  }
}
