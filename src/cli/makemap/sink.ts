/**
 * What `smapd-makemap` writes entries into, and the errors it reports. A sink builds into a temporary name
 * next to the output and puts it in place only when everything was written, so a failed build never leaves
 * a half-made map where smapd would open it.
 */

/** sysexits(3) codes used by smapd-makemap beyond those in src/errors.ts. */
export const EX_DATAERR = 65;
export const EX_IOERR = 74;

/** An error that ends smapd-makemap with a given exit code; its message is printed as is. */
export class MakemapError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MakemapError';
  }
}

export interface DuplicateInfo {
  count: number;
  /** The first key seen twice, and the line of its second appearance. */
  first: { key: string; line: number } | null;
}

/** What one map of a build came to. */
export interface MapStats {
  /** Distinct keys written. */
  distinct: number;
  duplicates: DuplicateInfo;
}

/**
 * A build: one or more maps (LevelDB sublevels or SQLite tables), each written as `beginMap`, `add`...,
 * `endMap`, then `finish` once. `abort` instead of `finish` on any error.
 */
export interface MapSink {
  /** Start a map: a sublevel or table name, or undefined for the root (level) or the default table (sqlite). */
  beginMap(name: string | undefined): Promise<void>;
  /** Add one entry; a key seen before in this map replaces the earlier value (last wins, as in the file module). */
  add(key: string, value: string, line: number): void;
  /** Write what `add` buffered if enough has piled up; called between input chunks. */
  flushIfFull(): Promise<void>;
  /** Write the rest of the current map and report on it. */
  endMap(): Promise<MapStats>;
  /** Close and move the result to the output path. */
  finish(): Promise<void>;
  /** Give up: remove the temporary output. Never throws. */
  abort(): Promise<void>;
}

/** The temporary name a build writes to, in the output's directory so the final rename stays on one file system. */
export function temporaryPath(output: string): string {
  return `${output}.tmp-${process.pid}`;
}

/** The message of an I/O error with the file it concerns, without a stack. */
export function ioMessage(what: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return `${what}: ${msg}`;
}
