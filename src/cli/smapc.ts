#!/usr/bin/env node
/**
 * smapc: the sockmap client. `smapc URL MAP KEY` asks one question and says the answer in its exit status;
 * without a key it reads requests from stdin (batch) or runs an interactive shell.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { parseReplyStatus, parseServerUrl } from '../client/client.js';
import { MalformedReplyError, ReplyTimeoutError, ReplyTooLargeError } from '../client/errors.js';
import { EX_OK, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE } from '../errors.js';
import { isMainModule } from './is-main.js';
import { versionLine } from './smapc/commands.js';
import { Interpreter } from './smapc/interpreter.js';
import { readLines } from './smapc/lines.js';
import { Output } from './smapc/output.js';
import { Session } from './smapc/session.js';
import { smapcControl } from './smapc-control.js';
import { defaultConfigFile } from '../config/default-path.js';
import { runShell } from './smapc/shell.js';

/** Exit status of a single query, by reply status (64 and 69 are GNU smapc's own). */
export const EXIT = {
  OK: EX_OK,
  NOTFOUND: 1,
  PERM: 2,
  USAGE: EX_USAGE,
  DATAERR: 65,
  UNAVAILABLE: EX_UNAVAILABLE,
  TEMPFAIL: 75,
  PROTOCOL: 76,
} as const;

/** Requests in flight in batch mode: enough to hide the round trip, small enough to bound memory. */
export const BATCH_WINDOW = 64;

const CONTROL_HELP = `
Control a running smapd (see docs/control.md):
  smapc --control[=SOCKET] status [--json]   counters, per-database figures
  smapc --control[=SOCKET] flush [DB]        empty result caches
  smapc --control[=SOCKET] db NAME CMD ...   e.g. db blocklist bind 192.0.2.1 REJECT
  Without =SOCKET, the control-socket of $SMAPD_CONF (default /etc/smapd.conf) is used.
`;

export interface SmapcIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable;
  stderr: Writable;
  /** Environment to take HOME from; default process.env. */
  env?: Record<string, string | undefined>;
}

interface CliOptions {
  batch?: boolean;
  quiet?: boolean;
  norc?: boolean;
  server?: string;
  source?: string;
  prompt?: string;
  trace?: boolean;
  timeout?: string;
}

const EXIT_HELP = `
Exit status of a single query:
  0   OK             1   NOTFOUND or NOMORE     2   PERM
  75  TEMP, TIMEOUT, or no reply within the timeout
  76  a reply that is not a sockmap reply
  64  bad usage      69  cannot connect, or the connection was lost
In batch mode: 0 all lines done, 65 some lines refused, 69 connection lost, 75 timeout.`;

function program(io: SmapcIo): Command {
  return new Command('smapc')
    .description('Query a sockmap server (smapd, or any socketmap server)')
    .usage('[OPTION]... [URL] [MAP [KEY]]')
    .argument('[args...]', 'URL MAP KEY: one query; MAP KEY: one query to -S or the rc server; MAP: default map')
    .option('-B, --batch', 'batch mode: no banner, no prompt (the default when stdin is not a terminal)')
    .option('-Q, --quiet', 'do not print the banner')
    .option('-q, --norc', 'do not read ~/.smapc')
    .option('-S, --server <url>', 'server to connect to (inet://HOST:PORT, inet6://[ADDR]:PORT, unix:///PATH)')
    .option('-s, --source <ip>', 'source IP address for inet connections')
    .option('-p, --prompt <string>', 'prompt of the shell (default "(smapc) ")')
    .option('-T, --trace', 'print the requests and replies, as netstrings, on stderr')
    .option('-t, --timeout <seconds>', 'connect and reply timeout (default 100)')
    .version(versionLine(), '-V, --version')
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', CONTROL_HELP + EXIT_HELP)
    .showHelpAfterError('(smapc --help shows the usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s.replace(/^error: /, 'smapc: ')),
    });
}

/** The exit status that says what a single query's reply was. */
export function exitStatusOf(reply: string): number {
  switch (parseReplyStatus(reply).status) {
    case 'OK':
      return EXIT.OK;
    case 'NOTFOUND':
    case 'NOMORE':
      return EXIT.NOTFOUND;
    case 'TEMP':
    case 'TIMEOUT':
      return EXIT.TEMPFAIL;
    case 'PERM':
      return EXIT.PERM;
    default:
      return EXIT.PROTOCOL;
  }
}

function parseTimeout(text: string | undefined): number | string {
  if (text === undefined) return 100_000;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) return `invalid timeout '${text}': expected a positive number of seconds`;
  return Math.max(1, Math.round(n * 1000));
}

function checkUrl(url: string): string | undefined {
  try {
    parseServerUrl(url);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function checkMapName(map: string): string | undefined {
  return map === '' || /\s/.test(map) ? `invalid map name '${map}': it must be one word` : undefined;
}

/** Read ~/.smapc: commands without the prefix; a `prefix` set there stays in effect (GNU smapc resets it). */
async function readRcFile(session: Session, file: string): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') session.out.error(`cannot read ${file}: ${(err as Error).message}`);
    return;
  }
  session.deferConnect = true;
  try {
    await new Interpreter(session, { window: 1, commandsOnly: true, source: file }).run(readLines([text]));
  } finally {
    session.deferConnect = false;
  }
}

async function singleQuery(session: Session, url: string, map: string, key: string): Promise<number> {
  if (!(await session.open(url))) return EXIT.UNAVAILABLE;
  try {
    const reply = await session.send(map, key);
    session.traceReply(reply);
    session.out.print(reply);
    return exitStatusOf(reply);
  } catch (err) {
    session.out.error((err as Error).message);
    if (err instanceof ReplyTimeoutError) return EXIT.TEMPFAIL;
    if (err instanceof ReplyTooLargeError || err instanceof MalformedReplyError) return EXIT.PROTOCOL;
    return EXIT.UNAVAILABLE;
  } finally {
    await session.close();
    await session.out.flush();
  }
}

async function batch(session: Session, stdin: Readable): Promise<number> {
  const interp = new Interpreter(session, { window: BATCH_WINDOW, source: 'stdin', stopOnFailure: true });
  const r = await interp.run(readLines(stdin));
  await session.close();
  if (r.failure === 'timeout') return EXIT.TEMPFAIL;
  if (r.failure === 'unavailable') return EXIT.UNAVAILABLE;
  return r.errors > 0 ? EXIT.DATAERR : EXIT.OK;
}

export async function smapcMain(
  argv: string[],
  io: SmapcIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  // `--control` takes the rest of the line as a command for a running smapd; commander would misread it.
  const ctl = await smapcControl(argv, io, defaultConfigFile(io.env ?? process.env));
  if (ctl !== undefined) return ctl;
  const out = new Output(io.stdout, io.stderr);
  let o: CliOptions;
  let args: string[];
  try {
    const cmd = program(io).parse(argv, { from: 'user' });
    o = cmd.opts<CliOptions>();
    args = cmd.args;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    throw err;
  }

  const usage = (message: string): number => {
    out.error(message);
    return EXIT.USAGE;
  };
  if (args.length > 3) return usage('too many arguments (usage: smapc [OPTION]... [URL] [MAP [KEY]])');
  const timeoutMs = parseTimeout(o.timeout);
  if (typeof timeoutMs === 'string') return usage(timeoutMs);
  const session = new Session(out, { timeoutMs, trace: o.trace ?? false, prompt: o.prompt, quiet: o.quiet });
  if (o.source !== undefined) {
    const err = session.setSource(o.source);
    if (err !== undefined) return usage(err);
  }
  // As in GNU smapc, a first argument that is a URL names the server: `smapc URL`, `smapc URL MAP` (then
  // keys from stdin or the shell) and `smapc URL MAP KEY`.
  const urlArg = args.length === 3 || (args.length > 0 && looksLikeUrl(args[0]!)) ? args[0] : undefined;
  const rest = urlArg === undefined ? args : args.slice(1);
  for (const url of [o.server, urlArg]) {
    const err = url === undefined ? undefined : checkUrl(url);
    if (err !== undefined) return usage(err);
  }
  if (urlArg !== undefined && o.server !== undefined) {
    return usage('the server is given twice: use either -S URL or URL as the first argument');
  }
  const mapArg = rest[0];
  const mapErr = mapArg === undefined ? undefined : checkMapName(mapArg);
  if (mapErr !== undefined) return usage(mapErr);

  const env = io.env ?? process.env;
  const home = env.HOME || os.homedir();
  if (!o.norc) await readRcFile(session, path.join(home, '.smapc'));
  // -Q wins over a `quiet no` in the rc file, as a command-line option should.
  if (o.quiet) session.quiet = true;
  const url = urlArg ?? o.server ?? session.deferredUrl;

  if (rest.length === 2) {
    if (url === undefined) return usage('server URL not given (use -S URL, or an open command in ~/.smapc)');
    return singleQuery(session, url, rest[0]!, rest[1]!);
  }
  if (rest.length === 1) session.map = rest[0];

  const batchMode = o.batch || !io.stdin.isTTY;
  if (url !== undefined && !(await session.open(url)) && batchMode) return EXIT.UNAVAILABLE;
  if (batchMode) return batch(session, io.stdin);

  const interp = new Interpreter(session, { window: 1 });
  await runShell(session, interp, { stdin: io.stdin, stdout: io.stdout, historyFile: path.join(home, '.smapc_history') });
  await session.close();
  return EXIT.OK;
}

/** `inet://…`, `unix:///…`, `/path`: a server, not a map name (map names have neither `://` nor a leading `/`). */
function looksLikeUrl(arg: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(arg) || arg.startsWith('/');
}

if (isMainModule(import.meta.url)) {
  // A reader that goes away (`smapc ... | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? EXIT.OK : EX_SOFTWARE));
  smapcMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`smapc: internal error: ${(err as Error).stack ?? err}\n`);
      process.exitCode = EX_SOFTWARE;
    },
  );
}
