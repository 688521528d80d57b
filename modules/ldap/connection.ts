/**
 * One database's connection to its directory. LDAP multiplexes operations on one connection by message id,
 * so a single connection carries every concurrent lookup of the database.
 *
 * The connection is made on demand: the servers are tried in the order given (so lookups go back to the first
 * one once it answers again), TLS is started, and the bind is made, before the connection is used. ldapts
 * would reconnect a dropped connection by itself on the next operation, but without StartTLS and, unless
 * told, without the bind: a lookup could then run anonymously and answer NOTFOUND for an entry the bound
 * user may read. So the connection is checked right before each search (in the same tick as the search is
 * sent, so nothing can drop it in between) and rebuilt here when it is gone.
 */
import net from 'node:net';
import { Client, ResultCodeError, type Entry } from 'ldapts';
import { BackendError, BackendTimeoutError } from '../../src/modules/api.js';
import type { LdapServer, LdapSettings } from './settings.js';

/** The directory answered, with an LDAP error result (no such base, insufficient access, …). */
export class DirectoryError extends BackendError {}

export interface SearchRequest {
  readonly filter: string;
  readonly attributes: readonly string[];
}

export class LdapConnection {
  private client: Client | null = null;
  /** The connect in progress, shared by every lookup that needs it. */
  private connecting: Promise<Client> | null = null;
  private closed = false;
  /** The server of the current connection, for logs. */
  server: LdapServer | null = null;

  constructor(private readonly settings: LdapSettings) {}

  /**
   * The first entry the filter finds, or null. Throws BackendError, or BackendTimeoutError when connecting,
   * binding and searching together take longer than `timeout`.
   */
  async first(req: SearchRequest): Promise<Entry | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendTimeoutError(`no answer within ${this.settings.timeoutMs} ms`)), this.settings.timeoutMs);
    });
    const work = this.lookup(req, Date.now() + this.settings.timeoutMs);
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
      work.catch(() => undefined);
    }
  }

  private async lookup(req: SearchRequest, deadline: number): Promise<Entry | null> {
    let client = this.client;
    if (client === null || !client.isConnected) client = await this.connect(deadline);
    // No await between the check above (or the connect) and the search below: the connection is the one
    // this module set up, bound and with TLS.
    if (!client.isConnected) throw new BackendError('LDAP connection lost while connecting');
    try {
      const result = await client.search(this.settings.base, {
        scope: this.settings.scope,
        filter: req.filter,
        attributes: req.attributes.length === 0 ? ['1.1'] : [...req.attributes],
        // The first entry is all a lookup uses (GNU Smap took the first one too).
        sizeLimit: 1,
        timeLimit: Math.max(1, Math.ceil(this.settings.timeoutMs / 1000)),
      });
      return result.searchEntries[0] ?? null;
    } catch (err) {
      throw this.failure(err, client);
    }
  }

  private async connect(deadline: number): Promise<Client> {
    if (this.closed) throw new BackendError('database is closed');
    if (this.connecting === null) {
      this.connecting = this.open(deadline).finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  /** Try each server in order; the first that connects, starts TLS and binds wins. */
  private async open(deadline: number): Promise<Client> {
    this.drop();
    const errors: string[] = [];
    for (const server of this.settings.servers) {
      const left = deadline - Date.now();
      if (left <= 0) throw new BackendTimeoutError(`no LDAP server answered in time (${errors.join('; ') || 'timeout'})`);
      const client = this.makeClient(server, Math.min(left, this.settings.connectTimeoutMs));
      try {
        if (this.settings.startTls) await client.startTLS(this.tlsOptions(server));
        if (this.settings.bindDn !== undefined) await client.bind(this.settings.bindDn, this.settings.bindPassword);
        else if (!this.settings.startTls) await client.bind('', ''); // anonymous: also proves the server answers
        if (this.closed) {
          await client.unbind().catch(() => undefined);
          throw new BackendError('database is closed');
        }
        this.client = client;
        this.server = server;
        return client;
      } catch (err) {
        await client.unbind().catch(() => undefined);
        if (err instanceof BackendError && this.closed) throw err;
        errors.push(`${server.uri}: ${describe(err)}`);
      }
    }
    throw new BackendError(`no LDAP server reachable (${errors.join('; ')})`);
  }

  private makeClient(server: LdapServer, connectTimeout: number): Client {
    const socketPath = server.socketPath;
    return new Client({
      url: `${server.tls ? 'ldaps' : 'ldap'}://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port || LDAPI_DUMMY_PORT}`,
      timeout: this.settings.timeoutMs,
      connectTimeout,
      strictDN: false,
      ...(server.tls ? { tlsOptions: this.tlsOptions(server) } : {}),
      ...(socketPath !== undefined ? { createConnection: (() => net.connect(socketPath)) as unknown as typeof net.connect } : {}),
    });
  }

  private tlsOptions(server: LdapServer): { ca?: Buffer; servername?: string; host?: string } {
    return { ...(this.settings.ca !== undefined ? { ca: this.settings.ca } : {}), host: server.host, servername: net.isIP(server.host) ? undefined : server.host };
  }

  /** Classify a failed search: a dropped or timed-out connection is thrown away, so the next lookup reconnects. */
  private failure(err: unknown, client: Client): Error {
    const text = describe(err);
    if (/timed out|timeout/i.test(text)) {
      this.discard(client);
      return new BackendTimeoutError(`LDAP search timed out (${text})`, { cause: err });
    }
    if (err instanceof ResultCodeError) return new DirectoryError(`LDAP search failed: ${text} (result code ${err.code})`, { cause: err });
    if (!client.isConnected) this.discard(client);
    return new BackendError(`LDAP search failed: ${text}`, { cause: err });
  }

  private discard(client: Client): void {
    if (this.client === client) this.drop();
    else client.unbind().catch(() => undefined);
  }

  private drop(): void {
    const c = this.client;
    this.client = null;
    this.server = null;
    if (c !== null) c.unbind().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = null;
    if (c !== null) await c.unbind().catch(() => undefined);
  }
}

/** ldapts wants a port in its URL even when `createConnection` makes the (unix) socket itself. */
const LDAPI_DUMMY_PORT = 389;

function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(describe).join('; ');
  if (err instanceof Error) {
    const msg = err.message.replace(/\s+/g, ' ').trim();
    const code = (err as NodeJS.ErrnoException).code;
    return msg !== '' ? msg : typeof code === 'string' ? code : err.name;
  }
  return String(err);
}
