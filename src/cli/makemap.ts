#!/usr/bin/env node
/**
 * smapd-makemap: build a LevelDB directory or an SQLite file from a text map in the `file` module's format,
 * or print a built map back as text.
 *
 *   smapd-makemap [--type level|sqlite] [--fold-case] [--allow-empty] INPUT OUTPUT
 *   smapd-makemap [--type level|sqlite] --map NAME=INPUT [--map NAME=INPUT]... OUTPUT
 *   smapd-makemap --dump level|sqlite [--sublevel NAME | --table NAME] PATH
 *
 * Exit codes (sysexits): 0 done, 64 usage, 65 bad input data (with file:line), 74 I/O error.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import { EX_SOFTWARE, EX_USAGE, UsageError } from '../errors.js';
import { levelEntries, sqliteEntries, type DumpEntry } from './makemap/dump.js';
import { checkSublevelName, LevelSink } from './makemap/level-sink.js';
import { EX_DATAERR, EX_IOERR, MakemapError, type MapSink } from './makemap/sink.js';
import { checkTableName, DEFAULT_TABLE, SqliteSink } from './makemap/sqlite-sink.js';
import { streamTextMap } from '../maps/textmap-reader.js';
import { textBytes } from '../protocol/bytes.js';
import { formatTextMapLine, TextMapSyntaxError, textMapLineProblem } from '../maps/textmap.js';
import { VERSION } from '../version.js';
import { isMainModule } from './is-main.js';
import { ProgressLine } from './makemap/progress.js';

const PROG = 'smapd-makemap';
/** Printed after every usage error, as smapd and smapc do. */
const USAGE_HINT = `usage: ${PROG} [options] INPUT OUTPUT | --map NAME=INPUT... OUTPUT | --dump TYPE PATH\n(${PROG} --help shows every option)\n`;
type MapType = 'level' | 'sqlite';
const TYPES: readonly MapType[] = ['level', 'sqlite'];

/** Inputs smaller than this finish before a progress line would be worth drawing. */
const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;

/** The streams smapd-makemap uses; tests pass their own. */
export interface MakemapIO {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable & { isTTY?: boolean };
}

/** One input of a build and the sublevel or table it goes to (undefined: the root, or the table `map`). */
interface Job {
  readonly name: string | undefined;
  readonly input: string;
}

interface Args {
  readonly type: MapType;
  readonly dump: MapType | undefined;
  readonly foldCase: boolean;
  readonly allowEmpty: boolean;
  /** The sublevel or table to dump. */
  readonly dumpName: string | undefined;
  readonly jobs: readonly Job[];
  /** The built map, or the map to dump. */
  readonly target: string;
  readonly progress: boolean | undefined;
  readonly verbose: boolean;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function program(io: MakemapIO): Command {
  return new Command(PROG)
    .description('Build a LevelDB directory or SQLite file from text maps, or dump a built map as text.')
    .usage(
      '[options] INPUT OUTPUT\n' +
        '       smapd-makemap [options] --map NAME=INPUT [--map NAME=INPUT]... OUTPUT\n' +
        '       smapd-makemap --dump level|sqlite [--sublevel NAME | --table NAME] PATH',
    )
    .argument('[paths...]')
    .addOption(new Option('-t, --type <type>', 'what to build').choices(TYPES).default('level'))
    .addOption(new Option('-d, --dump <type>', 'print the map at PATH as text instead of building').choices(TYPES))
    .option('-f, --fold-case', 'case-fold keys as Postfix does (for databases with fold-case)', false)
    .option('--allow-empty', 'accept keys without a value', false)
    .option('--sublevel <name>', 'level: write INPUT to (or dump) this sublevel, for keys=sublevel')
    .option('--table <name>', `sqlite: write INPUT to (or dump) this table (default: ${DEFAULT_TABLE})`)
    .option('-m, --map <name=input>', 'add INPUT as sublevel (level) or table (sqlite) NAME; repeatable', collect)
    .option('--progress', 'always show a progress line on stderr')
    .option('--no-progress', 'never show a progress line')
    .option('-v, --verbose', 'report what was written', false)
    .addHelpText(
      'after',
      `
INPUT is a text map: "KEY VALUE" lines, # comments, lines starting with a blank continue the value.
Use - for standard input. The output is built under a temporary name and renamed into place.

Exit codes: 0 done, 64 usage error, 65 bad input (file:line on stderr), 74 I/O error.`,
    )
    .version(`${PROG} (smapd) ${VERSION}`, '-V, --version')
    .showHelpAfterError(USAGE_HINT.trimEnd())
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s.replace(/^error: /, `${PROG}: `)),
    });
}

function checkName(type: MapType, name: string): void {
  const bad = type === 'level' ? checkSublevelName(name) : checkTableName(name);
  if (bad !== null) throw new UsageError(bad);
}

/** The inputs of a build: one positional INPUT, or several `--map NAME=INPUT`. */
function jobsOf(type: MapType, paths: readonly string[], maps: readonly string[] | undefined, single: string | undefined): Job[] {
  if (maps === undefined) {
    if (paths.length !== 2) throw new UsageError('need INPUT and OUTPUT (or --map NAME=INPUT... OUTPUT, or --dump TYPE PATH)');
    return [{ name: single, input: paths[0]! }];
  }
  if (single !== undefined) throw new UsageError('use either --sublevel/--table with one INPUT, or --map');
  if (paths.length !== 1) throw new UsageError('with --map, give only OUTPUT as an argument');
  const jobs: Job[] = [];
  for (const m of maps) {
    const eq = m.indexOf('=');
    if (eq <= 0 || eq === m.length - 1) throw new UsageError(`--map needs NAME=INPUT, not '${m}'`);
    const name = m.slice(0, eq);
    checkName(type, name);
    if (jobs.some((j) => j.name === name)) throw new UsageError(`--map ${name} is given twice`);
    jobs.push({ name, input: m.slice(eq + 1) });
  }
  if (jobs.filter((j) => j.input === '-').length > 1) throw new UsageError('standard input (-) can be read only once');
  return jobs;
}

function parseArgs(argv: readonly string[], io: MakemapIO): Args {
  const cmd = program(io);
  cmd.parse([...argv], { from: 'user' });
  const o = cmd.opts<{
    type: MapType;
    dump?: MapType;
    foldCase: boolean;
    allowEmpty: boolean;
    sublevel?: string;
    table?: string;
    map?: string[];
    progress?: boolean;
    verbose: boolean;
  }>();
  const paths = cmd.args;
  const type = o.dump ?? o.type;
  if (o.sublevel !== undefined && type !== 'level') throw new UsageError('--sublevel applies to --type level only');
  if (o.table !== undefined && type !== 'sqlite') throw new UsageError('--table applies to --type sqlite only');
  const single = o.sublevel ?? o.table;
  if (single !== undefined) checkName(type, single);

  const common = { type, dump: o.dump, foldCase: o.foldCase, allowEmpty: o.allowEmpty, progress: o.progress, verbose: o.verbose };
  if (o.dump !== undefined) {
    if (paths.length !== 1) throw new UsageError('--dump takes exactly one PATH');
    if (cmd.getOptionValueSource('type') === 'cli') throw new UsageError('--dump names the type itself; drop --type');
    if (o.foldCase || o.allowEmpty || o.map !== undefined) {
      throw new UsageError('--fold-case, --allow-empty and --map apply to building, not to --dump');
    }
    return { ...common, dumpName: single, jobs: [], target: paths[0]! };
  }
  const jobs = jobsOf(type, paths, o.map, single);
  const output = paths[paths.length - 1]!;
  if (output === '-') throw new UsageError('OUTPUT cannot be standard output; use --dump to print a map');
  for (const j of jobs) {
    if (j.input !== '-' && path.resolve(j.input) === path.resolve(output)) throw new UsageError('INPUT and OUTPUT are the same file');
  }
  return { ...common, dumpName: undefined, jobs, target: output };
}

async function openInput(name: string, io: MakemapIO): Promise<{ stream: Readable; label: string; size: number | null }> {
  if (name === '-') return { stream: io.stdin, label: 'stdin', size: null };
  let size: number;
  try {
    const st = await stat(name);
    if (!st.isFile()) throw new MakemapError(`${name} is not a regular file`, EX_IOERR);
    size = st.size;
  } catch (err) {
    if (err instanceof MakemapError) throw err;
    throw new MakemapError(`cannot read ${name}: ${(err as Error).message}`, EX_IOERR, { cause: err });
  }
  const fh = await open(name, 'r');
  return { stream: fh.createReadStream({ highWaterMark: 1 << 20 }), label: name, size };
}

/** Read one input into the current map of the sink; returns the number of lines read. */
async function readInto(sink: MapSink, job: Job, a: Args, io: MakemapIO): Promise<{ label: string; lines: number }> {
  const input = await openInput(job.input, io);
  const showProgress = a.progress ?? (io.stderr.isTTY === true && (input.size === null || input.size >= PROGRESS_MIN_BYTES));
  const progress = showProgress ? new ProgressLine(io.stderr, input.size) : null;
  try {
    const lines = await streamTextMap(input.stream, input.label, (key, value, line) => sink.add(key, value, line), {
      foldCase: a.foldCase,
      allowEmptyValues: a.allowEmpty,
      onProgress: progress === null ? undefined : (p) => progress.update(p),
      afterChunk: () => sink.flushIfFull(),
    });
    return { label: input.label, lines };
  } finally {
    progress?.clear();
    input.stream.destroy();
  }
}

async function build(a: Args, io: MakemapIO): Promise<number> {
  const output = a.target;
  const sink: MapSink = a.type === 'level' ? await LevelSink.create(output) : await SqliteSink.create(output);
  const reports: string[] = [];
  try {
    for (const job of a.jobs) {
      await sink.beginMap(job.name);
      const { label, lines } = await readInto(sink, job, a, io);
      const { distinct, duplicates: d } = await sink.endMap();
      if (d.count > 0 && d.first !== null) {
        reports.push(`warning: ${d.count} duplicate key(s), the last one wins (first: '${d.first.key}' at ${label}:${d.first.line})`);
      }
      if (a.verbose) {
        const where = job.name === undefined ? output : `${output} (${a.type === 'level' ? 'sublevel' : 'table'} ${job.name})`;
        reports.push(`${where}: ${distinct} entries from ${lines} lines of ${label}`);
      }
    }
    await sink.finish();
  } catch (err) {
    await sink.abort();
    throw err;
  }
  for (const r of reports) io.stderr.write(`${PROG}: ${r}\n`);
  return 0;
}

/**
 * Writes a dump to stdout, waiting when the stream is full so a large dump does not pile up in memory, and
 * turning a write error (a closed pipe) into a rejection instead of an unhandled 'error' event.
 */
class OutputWriter {
  private failure: Error | null = null;
  private readonly onError = (err: Error): void => {
    this.failure ??= err;
  };

  constructor(private readonly out: Writable) {
    out.on('error', this.onError);
  }

  async write(text: string): Promise<void> {
    if (this.failure !== null) throw this.failure;
    // A dump of 8-bit keys or values must give back their bytes (src/protocol/bytes.ts), not U+FFFD.
    if (this.out.write(textBytes(text))) return;
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.out.off('error', fail);
        resolve();
      };
      const fail = (err: Error): void => {
        this.out.off('drain', done);
        reject(err);
      };
      this.out.once('drain', done);
      this.out.once('error', fail);
    });
  }

  release(): void {
    this.out.off('error', this.onError);
  }
}

async function dump(a: Args, io: MakemapIO): Promise<number> {
  const file = a.target;
  const entries: AsyncIterable<DumpEntry> | Iterable<DumpEntry> =
    a.dump === 'level' ? levelEntries(file, a.dumpName) : sqliteEntries(file, a.dumpName ?? DEFAULT_TABLE);
  const out = new OutputWriter(io.stdout);
  let skipped = 0;
  let chunk = '';
  try {
    for await (const e of entries) {
      const problem = 'problem' in e ? e.problem : textMapLineProblem(e.key, e.value);
      if (problem !== null) {
        skipped++;
        io.stderr.write(`${PROG}: ${file}: key ${JSON.stringify(e.key)}: ${problem}; not written\n`);
        continue;
      }
      chunk += formatTextMapLine(e.key, (e as { value: string }).value) + '\n';
      if (chunk.length >= 65536) {
        await out.write(chunk);
        chunk = '';
      }
    }
    if (chunk !== '') await out.write(chunk);
  } catch (err) {
    // A reader that stopped early (`| head`) is not a failure of the dump.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    throw err;
  } finally {
    out.release();
  }
  if (skipped > 0) {
    io.stderr.write(`${PROG}: ${file}: ${skipped} entr${skipped === 1 ? 'y' : 'ies'} cannot be written as a text map\n`);
    return EX_DATAERR;
  }
  return 0;
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && 'errno' in err;
}

/** Run smapd-makemap with `argv` = the arguments after the program name; resolves to the exit code. */
export async function makemapMain(argv: string[], io: MakemapIO = process): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv, io);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EX_USAGE;
    if (err instanceof UsageError) {
      io.stderr.write(`${PROG}: ${err.message}\n${USAGE_HINT}`);
      return EX_USAGE;
    }
    throw err;
  }
  try {
    return args.dump !== undefined ? await dump(args, io) : await build(args, io);
  } catch (err) {
    if (err instanceof MakemapError) {
      io.stderr.write(`${PROG}: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof TextMapSyntaxError) {
      io.stderr.write(`${PROG}: ${err.message}\n`);
      return EX_DATAERR;
    }
    if (isErrno(err)) {
      io.stderr.write(`${PROG}: ${err.message}\n`);
      return EX_IOERR;
    }
    throw err;
  }
}

if (isMainModule(import.meta.url)) {
  makemapMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${PROG}: internal error: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = EX_SOFTWARE;
    },
  );
}
