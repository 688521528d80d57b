/**
 * smapc's stdout and stderr. Reply lines are buffered, because batch mode may print millions of them and a
 * write per line costs a system call each; anything sent to stderr first flushes stdout, so a message shows
 * up after the replies to the lines before it. flush() waits for 'drain', which is what keeps a slow reader
 * of stdout from making smapc buffer the whole answer set.
 */
import { hasRawBytes, textBytes } from '../../protocol/bytes.js';
import type { Writable } from 'node:stream';

const FLUSH_AT = 64 * 1024;

export class Output {
  /** `file:line` of the input being processed, put before error messages; undefined in the shell. */
  location: string | undefined;
  private buffer = '';

  constructor(
    readonly stdout: Writable,
    readonly stderr: Writable,
    private readonly program = 'smapc',
  ) {}

  /** Queue one line for stdout. Returns true when the caller should `await flush()` soon. */
  line(text: string): boolean {
    this.buffer += text + '\n';
    return this.buffer.length >= FLUSH_AT;
  }

  /** Write a line to stdout now (interactive output: prompts and command answers). */
  print(text: string): void {
    this.buffer += text + '\n';
    this.flushNow();
  }

  /** `smapc: message` on stderr, after whatever stdout still holds. */
  error(message: string): void {
    this.flushNow();
    const where = this.location === undefined ? '' : `${this.location}: `;
    this.stderr.write(`${this.program}: ${where}${message}\n`);
  }

  /** Raw text on stderr (the protocol trace), after whatever stdout still holds. */
  trace(text: string): void {
    this.flushNow();
    this.stderr.write(text + '\n');
  }

  /** Write the buffer and wait until stdout can take more. */
  async flush(): Promise<void> {
    // A closed stdout (the reader went away) will never drain; the caller finds out from its 'error' event.
    if (!this.flushNow() && !this.stdout.destroyed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stdout.off('drain', done);
          this.stdout.off('close', done);
          this.stdout.off('error', done);
          resolve();
        };
        this.stdout.on('drain', done);
        this.stdout.on('close', done);
        this.stdout.on('error', done);
      });
    }
  }

  /** Write the buffer without waiting; false when stdout asked the writer to wait. */
  private flushNow(): boolean {
    if (this.buffer === '') return !this.stdout.writableNeedDrain;
    const text = this.buffer;
    this.buffer = '';
    // A reply holding 8-bit bytes (bytes.ts) is printed as those bytes, not as U+FFFD.
    return this.stdout.write(hasRawBytes(text) ? textBytes(text) : text);
  }
}
