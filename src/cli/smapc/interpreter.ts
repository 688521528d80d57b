/**
 * What smapc does with a line of input: a command, help, a comment, or a request. Requests are pipelined
 * with at most `window` in flight, and their replies printed in input order; `window` 1 is the interactive
 * shell (each reply before the next prompt), a larger one is batch mode, where a deep but bounded pipeline
 * keeps the connection busy without reading the whole input into memory.
 */
import { ReplyTimeoutError } from '../../client/errors.js';
import { runCommand, printHelp } from './commands.js';
import type { Output } from './output.js';
import type { Session } from './session.js';
import { splitWords, WordSplitError } from './words.js';

/** How a run of input ended badly, if it did. */
export type Failure = 'unavailable' | 'timeout';

export interface InterpreterOptions {
  /** Requests in flight at most; 1 waits for each reply. */
  window: number;
  /** Every line is a command, written without the prefix (the rc file). */
  commandsOnly?: boolean;
  /** Name for error locations (`~/.smapc`, `<stdin>`); undefined: no location (interactive). */
  source?: string;
  /** Stop at the first lost connection or timeout instead of reporting it and reading on. */
  stopOnFailure?: boolean;
}

export interface RunResult {
  /** Lines that were refused (invalid input, not connected, failed commands). */
  errors: number;
  failure: Failure | undefined;
  quit: boolean;
}

interface InFlight {
  reply: Promise<string>;
  location: string | undefined;
}

class Stop extends Error {}

const noop = (): void => undefined;

export class Interpreter {
  private readonly inFlight: InFlight[] = [];
  private lineNo = 0;
  private result: RunResult = { errors: 0, failure: undefined, quit: false };
  private readonly out: Output;

  constructor(
    private readonly session: Session,
    private readonly opts: InterpreterOptions,
  ) {
    this.out = session.out;
  }

  /** Process every line, then wait for the last replies. */
  async run(lines: AsyncIterable<string>): Promise<RunResult> {
    for await (const line of lines) {
      if (!(await this.feed(line))) break;
    }
    await this.finish();
    return this.result;
  }

  /** Process one line; false once input should stop (`quit`, or a failure in stop-on-failure mode). */
  async feed(line: string): Promise<boolean> {
    this.lineNo++;
    this.setLocation(this.here());
    try {
      await this.handle(line);
    } catch (err) {
      if (err instanceof Stop) return false;
      throw err;
    }
    return !this.result.quit;
  }

  /** Wait for the replies still in flight and print them. */
  async finish(): Promise<RunResult> {
    try {
      await this.drain();
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
    }
    this.setLocation(undefined);
    await this.out.flush();
    return this.result;
  }

  private async handle(line: string): Promise<void> {
    const s = this.session;
    if (!this.opts.commandsOnly && line.startsWith('?')) {
      await this.drain();
      printHelp(s);
      return;
    }
    if (this.opts.commandsOnly || line.startsWith(s.prefix)) {
      await this.command(this.opts.commandsOnly ? line : line.slice(s.prefix.length));
      return;
    }
    const text = line.replace(/^\s+/, '');
    if (text === '' || text.startsWith('#')) return;
    let map: string;
    let key: string;
    if (s.map !== undefined) {
      map = s.map;
      key = text;
    } else {
      const m = /^(\S+)\s(.*)$/s.exec(text);
      if (m === null) return this.refuse(`invalid input: expected MAP KEY (or set a default map with ${s.prefix}map)`);
      map = m[1]!;
      key = m[2]!.replace(/^\s+/, '');
    }
    if (!s.connected) return this.refuse(`not connected, use ${s.prefix}open first`);
    const reply = s.send(map, key);
    reply.catch(noop); // handled when its turn comes; a loss would otherwise reject the queued ones unobserved
    this.inFlight.push({ reply, location: this.here() });
    if (this.inFlight.length >= this.opts.window) await this.settleOldest();
  }

  private async command(text: string): Promise<void> {
    let words: string[];
    try {
      words = splitWords(text);
    } catch (err) {
      if (err instanceof WordSplitError) return this.refuse(err.message);
      throw err;
    }
    if (words.length === 0) return;
    // Commands print and change the connection: the replies before them must be out first.
    await this.drain();
    this.setLocation(this.here());
    const r = await runCommand(this.session, words);
    if (r === 'error') this.result.errors++;
    if (r === 'quit') this.result.quit = true;
  }

  private refuse(message: string): void {
    this.out.error(message);
    this.result.errors++;
  }

  private async drain(): Promise<void> {
    while (this.inFlight.length > 0) await this.settleOldest();
  }

  private async settleOldest(): Promise<void> {
    const { reply, location } = this.inFlight.shift()!;
    try {
      const text = await reply;
      this.session.traceReply(text);
      if (this.out.line(text)) await this.out.flush();
      if (this.opts.window === 1) await this.out.flush();
    } catch (err) {
      this.lost(err as Error, location);
    }
  }

  private lost(err: Error, location: string | undefined): void {
    // The first failure says what happened; the requests queued behind it fail with the same cause.
    if (this.session.connected) {
      this.setLocation(location);
      this.out.error(err.message);
      this.session.drop();
    }
    this.result.failure ??= err instanceof ReplyTimeoutError ? 'timeout' : 'unavailable';
    if (this.opts.stopOnFailure) {
      this.inFlight.length = 0;
      throw new Stop();
    }
    this.result.errors++;
  }

  private here(): string | undefined {
    return this.opts.source === undefined ? undefined : `${this.opts.source}:${this.lineNo}`;
  }

  private setLocation(loc: string | undefined): void {
    this.out.location = loc;
  }
}
