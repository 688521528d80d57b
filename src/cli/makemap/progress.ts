/**
 * The progress line smapd-makemap draws on a terminal while it reads a large input: lines read, and when the
 * input size is known, a bar and the percentage of bytes read. Redrawn at most a few times a second so
 * drawing costs nothing next to the build.
 */
import type { Writable } from 'node:stream';
import type { ReadProgress } from '../../maps/textmap-reader.js';

const REDRAW_MS = 150;
const BAR_WIDTH = 30;

function megabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1) + ' MiB';
}

export class ProgressLine {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: Writable,
    /** Input size in bytes, or null when reading a pipe. */
    private readonly total: number | null,
  ) {}

  update(p: ReadProgress, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.drawn = true;
    this.out.write('\r\x1b[K' + this.render(p));
  }

  render(p: ReadProgress): string {
    const lines = `${p.lines.toLocaleString('en-US')} lines`;
    if (this.total === null || this.total === 0) return `smapd-makemap: ${lines}, ${megabytes(p.bytes)}`;
    const fraction = Math.min(1, p.bytes / this.total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = '#'.repeat(filled) + '.'.repeat(BAR_WIDTH - filled);
    return `smapd-makemap: [${bar}] ${Math.floor(fraction * 100)}% of ${megabytes(this.total)}, ${lines}`;
  }

  /** Erase the line, so later messages start on a clean line. */
  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }
}
