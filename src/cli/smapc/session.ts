/**
 * The state a smapc user changes with commands: the connection, its source address, the default map, the
 * command prefix and the prompt. Commands, the batch loop and the REPL all act through this one object.
 */
import net from 'node:net';
import { parseServerUrl, SmapClient } from '../../client/client.js';
import { encodeNetstring } from '../../protocol/netstring.js';
import type { Output } from './output.js';

export const DEFAULT_PROMPT = '(smapc) ';
export const DEFAULT_PREFIX = '.';

export interface SessionOptions {
  timeoutMs: number;
  trace: boolean;
  prompt?: string;
  source?: string;
  quiet?: boolean;
}

export class Session {
  /** Default map: when set, a whole input line is the key. */
  map: string | undefined;
  prefix = DEFAULT_PREFIX;
  prompt: string;
  quiet: boolean;
  source: string | undefined;
  readonly timeoutMs: number;
  readonly trace: boolean;
  /** The input history, oldest first; only the interactive shell keeps one. */
  history: (() => readonly string[]) | undefined;
  /**
   * While the rc file is read, `open` only records the URL: the command line may name another server (or a
   * single query its own), and connecting twice would be wasted work and a misleading error.
   */
  deferConnect = false;
  /** The URL an `open` named while connecting was deferred. */
  deferredUrl: string | undefined;

  private client: SmapClient | null = null;
  private url: string | undefined;

  constructor(
    readonly out: Output,
    opts: SessionOptions,
  ) {
    this.timeoutMs = opts.timeoutMs;
    this.trace = opts.trace;
    this.prompt = opts.prompt ?? DEFAULT_PROMPT;
    this.source = opts.source;
    this.quiet = opts.quiet ?? false;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  /** The server in use (or, while connecting is deferred, the one that will be used). */
  get server(): string | undefined {
    return this.deferConnect ? this.deferredUrl : this.url;
  }

  /**
   * Connect to URL, closing any current connection first (as GNU smapc does, so a failed `open` leaves
   * the session unconnected rather than silently still talking to the old server). Returns false and
   * reports why when the connection cannot be made.
   */
  async open(url: string): Promise<boolean> {
    if (this.deferConnect) {
      this.deferredUrl = url;
      return true;
    }
    await this.close();
    try {
      // The source address only means something for inet; GNU smapc ignores it for unix sockets too.
      const inet = parseServerUrl(url).kind !== 'unix';
      this.client = await SmapClient.connect({
        url,
        timeoutMs: this.timeoutMs,
        ...(inet && this.source !== undefined ? { sourceAddress: this.source } : {}),
      });
      this.url = url;
      return true;
    } catch (err) {
      this.out.error((err as Error).message);
      return false;
    }
  }

  /** Close the connection, if any. */
  async close(): Promise<void> {
    if (this.deferConnect) {
      this.deferredUrl = undefined;
      return;
    }
    const c = this.client;
    this.client = null;
    this.url = undefined;
    if (c) await c.close();
  }

  /** Forget a connection that failed; the client has already closed it. */
  drop(): void {
    this.client = null;
    this.url = undefined;
  }

  /** Send one request; the caller must check `connected` first. */
  send(map: string, key: string): Promise<string> {
    if (this.client === null) return Promise.reject(new Error('not connected'));
    if (this.trace) this.out.trace('C: ' + encodeNetstring(map + ' ' + key));
    return this.client.query(map, key);
  }

  /** Trace a reply, at the moment it is printed, so the trace follows the output order. */
  traceReply(reply: string): void {
    if (this.trace) this.out.trace('S: ' + encodeNetstring(reply));
  }

  setSource(ip: string): string | undefined {
    if (net.isIP(ip) === 0) return `invalid IP address: ${ip}`;
    this.source = ip;
    return undefined;
  }
}

/** A valid command prefix: one punctuation character other than `#`, which starts comments. */
export function checkPrefix(text: string): string | undefined {
  if (text.length !== 1 || text === '#' || !/^[!-/:-@[-`{-~]$/.test(text)) {
    return `expected a single punctuation character other than '#', not '${text}'`;
  }
  return undefined;
}
