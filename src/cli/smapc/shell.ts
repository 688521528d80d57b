/**
 * The interactive shell: line editing and command completion from node:readline, and a history kept in
 * ~/.smapc_history across sessions (bounded, written private because keys may be personal data).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { COMMAND_NAMES, versionLine } from './commands.js';
import type { Interpreter } from './interpreter.js';
import type { Session } from './session.js';

export const HISTORY_SIZE = 500;

export interface ShellIo {
  stdin: Readable;
  stdout: Writable;
  /** File to keep the history in; undefined: none. */
  historyFile: string | undefined;
}

/** The saved history, newest first as readline wants it. */
export function loadHistory(file: string | undefined): string[] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return []; // no history yet, or unreadable: start afresh rather than refuse to start
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-HISTORY_SIZE)
    .reverse();
}

/** Save the history (newest first, as readline keeps it) oldest first; returns an error message or undefined. */
export function saveHistory(file: string | undefined, newestFirst: readonly string[]): string | undefined {
  if (file === undefined) return undefined;
  const lines = newestFirst.slice(0, HISTORY_SIZE).reverse();
  try {
    writeFileSync(file, lines.length ? lines.join('\n') + '\n' : '', { mode: 0o600 });
    return undefined;
  } catch (err) {
    return `cannot save history to ${file}: ${(err as Error).message}`;
  }
}

/** Complete command names after the prefix; requests (map names, keys) are not completed. */
export function completeCommand(session: Session, line: string): [string[], string] {
  const p = session.prefix;
  if (!line.startsWith(p) || /\s/.test(line)) return [[], line];
  const partial = line.slice(p.length);
  return [COMMAND_NAMES.filter((n) => n.startsWith(partial)).map((n) => p + n + ' '), line];
}

export async function runShell(session: Session, interp: Interpreter, io: ShellIo): Promise<void> {
  let history = loadHistory(io.historyFile);
  const rl = readline.createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal: true,
    history,
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: (line: string) => completeCommand(session, line),
    prompt: session.prompt,
  });
  rl.on('history', (h: string[]) => (history = h));
  session.history = () => [...history].reverse();
  rl.on('SIGINT', () => {
    // As in a shell, Ctrl-C drops the line being typed rather than ending the session.
    if (rl.line !== '') {
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      return;
    }
    io.stdout.write(`\n(To exit, press Ctrl+D or type ${session.prefix}quit)\n`);
    rl.prompt();
  });

  if (!session.quiet) session.out.print(`${versionLine()}\nType ? for help summary\n`);
  rl.prompt();
  try {
    for await (const line of rl) {
      if (!(await interp.feed(line))) break;
      rl.setPrompt(session.prompt);
      rl.prompt();
    }
  } finally {
    await interp.finish();
    rl.close();
    session.history = undefined;
    const err = saveHistory(io.historyFile, history);
    if (err !== undefined) session.out.error(err);
  }
}
