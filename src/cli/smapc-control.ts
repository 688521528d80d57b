/**
 * `smapc --control[=PATH] COMMAND...`: one command to a running smapd's control socket. The words come
 * from the shell already split; they are quoted again for the socket, so `bind k "two words"` arrives
 * intact. `status` is shown as a table unless `--json` is given.
 */
import { loadConfig } from '../config/parser.js';
import { ControlUnavailableError, controlCommand } from '../control/client.js';
import type { DatabaseStatus, StatusReport } from '../control/target.js';
import { joinWords } from '../control/words.js';
import { EX_CONFIG, EX_OK, EX_UNAVAILABLE, EX_USAGE } from '../errors.js';

export interface ControlIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/** Exit status for an `ERR` reply: the command ran and said no. */
export const EX_COMMAND_FAILED = 1;

export interface ControlInvocation {
  /** From `--control=PATH`; undefined means: the `control-socket` of the config file. */
  readonly socketPath: string | undefined;
  /** From `-c FILE` / `--config FILE`. */
  readonly configFile: string | undefined;
  /** From `-t SECONDS` / `--timeout SECONDS`. */
  readonly timeoutMs: number | undefined;
  readonly words: string[];
}

/**
 * Find `--control[=PATH]` in smapc's arguments. Everything after it is the command, word for word, so that
 * `--replace` and `--json` reach the command instead of smapc's option parser (which would also take a
 * bare `--control status` as the path `status`). Before it only `-c/--config FILE` and `-t/--timeout SECONDS`
 * are allowed. Returns undefined without `--control`, or a string describing a usage error.
 */
export function parseControlArgv(argv: readonly string[]): ControlInvocation | string | undefined {
  const at = argv.findIndex((a) => a === '--control' || a.startsWith('--control='));
  if (at < 0) return undefined;
  const flag = argv[at]!;
  const socketPath = flag === '--control' ? undefined : flag.slice('--control='.length);
  if (socketPath === '') return '--control= needs a socket path';
  let configFile: string | undefined;
  let timeoutMs: number | undefined;
  for (let i = 0; i < at; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const isConfig = name === '-c' || name === '--config';
    if (!isConfig && name !== '-t' && name !== '--timeout') {
      return `${name} cannot be used with --control (only -c FILE and -t SECONDS can)`;
    }
    const value = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || i >= at) return `${name} needs a value`;
    if (isConfig) {
      configFile = value;
    } else {
      const secs = Number(value);
      if (value.trim() === '' || !Number.isFinite(secs) || secs <= 0) return `${name}: not a number of seconds: '${value}'`;
      timeoutMs = Math.round(secs * 1000);
    }
  }
  return { socketPath, configFile, timeoutMs, words: argv.slice(at + 1) };
}

/**
 * The whole of `smapc --control ...`: undefined when `argv` has no `--control` (smapc carries on as usual),
 * else the exit status. Without `=PATH` the socket is the `control-socket` of smapd's config file.
 */
export async function smapcControl(
  argv: readonly string[],
  io: ControlIo,
  defaultConfigFile: string,
): Promise<number | undefined> {
  const inv = parseControlArgv(argv);
  if (inv === undefined) return undefined;
  if (typeof inv === 'string') {
    io.stderr.write(`smapc: ${inv}\n`);
    return EX_USAGE;
  }
  let socketPath = inv.socketPath;
  if (socketPath === undefined) {
    const file = inv.configFile ?? defaultConfigFile;
    try {
      socketPath = loadConfig(file).controlSocket;
    } catch (err) {
      io.stderr.write(`smapc: cannot read ${file} to find the control socket (give --control=PATH): ${(err as Error).message}\n`);
      return EX_CONFIG;
    }
    if (socketPath === undefined) {
      io.stderr.write(`smapc: ${file} has no control-socket statement; give --control=PATH\n`);
      return EX_CONFIG;
    }
  }
  return controlMain(socketPath, inv.words, io, inv.timeoutMs);
}

export async function controlMain(
  socketPath: string,
  words: string[],
  io: ControlIo = process,
  timeoutMs?: number,
): Promise<number> {
  let send = words;
  let json = false;
  if (words[0] === 'status' && words.includes('--json')) {
    json = true;
    send = words.filter((w) => w !== '--json');
  }
  if (send.length === 0) {
    io.stderr.write("smapc: --control needs a command (try 'smapc --control help')\n");
    return EX_USAGE;
  }
  let reply: string;
  try {
    reply = await controlCommand(socketPath, joinWords(send), timeoutMs);
  } catch (err) {
    if (!(err instanceof ControlUnavailableError)) throw err;
    io.stderr.write(`smapc: ${err.message}\n`);
    return EX_UNAVAILABLE;
  }
  if (reply === 'ERR' || reply.startsWith('ERR ')) {
    io.stderr.write(`smapc: ${reply.slice(4) || 'command failed'}\n`);
    return EX_COMMAND_FAILED;
  }
  if (reply !== 'OK' && !reply.startsWith('OK ')) {
    io.stderr.write(`smapc: ${socketPath} gave an unexpected reply (is it a smapd control socket?): ${reply.slice(0, 80)}\n`);
    return EX_UNAVAILABLE;
  }
  let text = reply.slice(3);
  if (send[0] === 'status' && send.length === 1) {
    text = json ? prettyJson(text) : formatStatus(JSON.parse(text) as StatusReport);
  }
  if (text !== '') io.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return EX_OK;
}

function prettyJson(text: string): string {
  return JSON.stringify(JSON.parse(text), null, 2);
}

/** Seconds as `3d 4h 5m 6s`, leaving out leading zero units. */
export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  const units: Array<[string, number]> = [['d', 86400], ['h', 3600], ['m', 60]];
  let rest = Math.max(0, Math.floor(seconds));
  for (const [u, n] of units) {
    if (rest >= n || parts.length > 0) {
      parts.push(`${Math.floor(rest / n)}${u}`);
      rest %= n;
    }
  }
  parts.push(`${rest}s`);
  return parts.join(' ');
}

/** The status report for people: a few summary lines and a table of databases. */
export function formatStatus(s: StatusReport): string {
  const out: string[] = [];
  out.push(`smapd ${s.version}, pid ${s.pid}, up ${formatDuration(s.uptimeSeconds)} (since ${s.startedAt})${s.stopping ? ', STOPPING' : ''}`);
  const c = s.connections;
  out.push(`connections: ${c.open} open, ${c.total} total, ${c.rejected} rejected, ${c.evicted} evicted, ${c.stalled} stalled, ${c.requestTimeouts} timed out`);
  out.push(`requests:    ${s.requests} (protocol errors ${s.protocolErrors}, oversize replies ${s.oversizeReplies})`);
  out.push(`replies:     ${Object.entries(s.replies).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const names = Object.keys(s.databases);
  if (names.length === 0) {
    out.push('databases:   none');
    return out.join('\n');
  }
  const header = ['DATABASE', 'MODULE', 'OPEN', 'QUERIES', 'XFORMS', 'ERRORS', 'TIMEOUTS', 'CACHE HITS', 'MISSES', 'ENTRIES', 'BYTES', 'ADMIT'];
  const rows = names.map((n) => row(n, s.databases[n]!));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  // Names left-aligned, numbers right-aligned, as people read columns of figures.
  const fmt = (r: string[]) =>
    r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  out.push('', fmt(header), ...rows.map(fmt));
  return out.join('\n');
}

function row(name: string, d: DatabaseStatus): string[] {
  const c = d.cache;
  return [
    name,
    d.module,
    d.open ? 'yes' : 'no',
    String(d.queries),
    String(d.transforms),
    String(d.errors),
    String(d.timeouts),
    c ? String(c.hits) : '-',
    c ? String(c.misses) : '-',
    c ? String(c.entries) : '-',
    c ? String(c.bytes) : '-',
    // The admission sample of a full cache: every miss gets an entry (`all`), or one in N (cache-admission.ts).
    c ? (c.admitOneIn > 1 ? `1/${c.admitOneIn}` : 'all') : '-',
  ];
}
