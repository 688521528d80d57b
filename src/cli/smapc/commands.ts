/**
 * smapc's shell commands (`.map`, `.open`, ...). In the rc file they are written without the prefix.
 * Each returns whether it worked, so batch mode can report a non-zero status for bad input.
 */
import { VERSION } from '../../version.js';
import type { Session } from './session.js';
import { checkPrefix } from './session.js';

export type CommandResult = 'ok' | 'error' | 'quit';

interface Command {
  readonly name: string;
  readonly args: string;
  readonly doc: string;
  /** Arguments after the command name. */
  readonly min: number;
  readonly max: number;
  run(s: Session, argv: readonly string[]): CommandResult | Promise<CommandResult>;
}

const TRUE_WORDS = new Set(['yes', 'on', 'true', 't', '1']);
const FALSE_WORDS = new Set(['no', 'off', 'false', 'nil', '0']);

export function versionLine(): string {
  return `smapc (smapd) ${VERSION}`;
}

const LICENSE = [
  'License GPLv3+: GNU GPL version 3 or later <https://gnu.org/licenses/gpl.html>.',
  '',
  '   This program is free software; you can redistribute it and/or modify',
  '   it under the terms of the GNU General Public License as published by',
  '   the Free Software Foundation; either version 3, or (at your option)',
  '   any later version.',
  '',
  '   This program is distributed in the hope that it will be useful,',
  '   but WITHOUT ANY WARRANTY; without even the implied warranty of',
  '   MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the',
  '   GNU General Public License for more details.',
].join('\n');

function fail(s: Session, message: string): CommandResult {
  s.out.error(message);
  return 'error';
}

const COMMANDS: readonly Command[] = [
  { name: 'help', args: '', doc: 'show command summary', min: 0, max: 0, run: (s) => (printHelp(s), 'ok') },
  { name: 'quit', args: '', doc: 'quit the shell', min: 0, max: 0, run: () => 'quit' },
  {
    name: 'map',
    args: '[NAME]',
    doc: 'set or show the default map',
    min: 0,
    max: 1,
    run(s, [name]) {
      if (name === undefined) {
        s.out.print(s.map === undefined ? 'map not set' : `current map is ${s.map}`);
        return 'ok';
      }
      // The server splits the request at the first space, so such a name could never be looked up.
      if (name === '' || /\s/.test(name)) return fail(s, `invalid map name '${name}': it must be one word`);
      s.map = name;
      return 'ok';
    },
  },
  { name: 'nomap', args: '', doc: 'clear the default map', min: 0, max: 0, run: (s) => ((s.map = undefined), 'ok') },
  {
    name: 'server',
    args: '',
    doc: 'show the current server URL',
    min: 0,
    max: 0,
    run(s) {
      s.out.print(s.server === undefined ? 'server not set' : `current server is ${s.server}`);
      return 'ok';
    },
  },
  {
    name: 'open',
    args: 'URL',
    doc: 'connect to a server',
    min: 1,
    max: 1,
    run: async (s, [url]) => ((await s.open(url!)) ? 'ok' : 'error'),
  },
  {
    name: 'close',
    args: '',
    doc: 'close the connection',
    min: 0,
    max: 0,
    async run(s) {
      if (s.server === undefined) return fail(s, 'not open');
      await s.close();
      return 'ok';
    },
  },
  {
    name: 'source',
    args: '[IP]',
    doc: 'set or show the source IP address',
    min: 0,
    max: 1,
    run(s, [ip]) {
      if (ip === undefined) {
        s.out.print(s.source === undefined ? 'source IP not set' : `current source IP is ${s.source}`);
        return 'ok';
      }
      const err = s.setSource(ip);
      return err === undefined ? 'ok' : fail(s, err);
    },
  },
  {
    name: 'prefix',
    args: '[CHAR]',
    doc: 'set or show the command prefix',
    min: 0,
    max: 1,
    run(s, [ch]) {
      if (ch === undefined) {
        s.out.print(`command prefix is ${s.prefix}`);
        return 'ok';
      }
      const err = checkPrefix(ch);
      if (err !== undefined) return fail(s, err);
      s.prefix = ch;
      return 'ok';
    },
  },
  {
    name: 'prompt',
    args: '[STRING]',
    doc: 'set or show the prompt',
    min: 0,
    max: 1,
    run(s, [text]) {
      if (text === undefined) s.out.print(`current prompt is ${s.prompt}`);
      else s.prompt = text;
      return 'ok';
    },
  },
  {
    name: 'quiet',
    args: 'BOOL',
    doc: 'do not print the banner at startup',
    min: 1,
    max: 1,
    run(s, [word]) {
      const w = word!.toLowerCase();
      if (TRUE_WORDS.has(w)) s.quiet = true;
      else if (FALSE_WORDS.has(w)) s.quiet = false;
      else return fail(s, `invalid boolean value '${word}' (use yes/no, on/off, true/false)`);
      return 'ok';
    },
  },
  {
    name: 'warranty',
    args: '',
    doc: 'print the copying and warranty conditions',
    min: 0,
    max: 0,
    run(s) {
      s.out.print(`${versionLine()}\n\n${LICENSE}`);
      return 'ok';
    },
  },
  { name: 'version', args: '', doc: 'print the program version', min: 0, max: 0, run: (s) => (s.out.print(versionLine()), 'ok') },
  {
    name: 'history',
    args: '',
    doc: 'list the input history',
    min: 0,
    max: 0,
    run(s) {
      if (s.history === undefined) return fail(s, 'history is kept in interactive mode only');
      const lines = s.history();
      lines.forEach((line, i) => s.out.print(`${String(i + 1).padStart(4)}) ${line}`));
      return 'ok';
    },
  },
];

const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));

/** Command names, for completion. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name).sort();

export function printHelp(s: Session): void {
  const lines: string[] = [];
  for (const c of [...COMMANDS].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(`${(s.prefix + c.name + ' ' + c.args).padEnd(24)} ${c.doc}`);
  }
  lines.push(`${'?'.padEnd(24)} same as ${s.prefix}help`);
  s.out.print(lines.join('\n'));
}

/** Run one command given as words (name first, without the prefix). */
export async function runCommand(s: Session, words: readonly string[]): Promise<CommandResult> {
  const [name, ...argv] = words;
  const cmd = BY_NAME.get(name!);
  if (cmd === undefined) return fail(s, `unknown command '${name}'; type ? for help`);
  const usage = `${s.prefix}${cmd.name}${cmd.args ? ' ' + cmd.args : ''}`;
  if (argv.length < cmd.min) return fail(s, `${cmd.name}: too few arguments (usage: ${usage})`);
  if (argv.length > cmd.max) return fail(s, `${cmd.name}: too many arguments (usage: ${usage})`);
  return cmd.run(s, argv);
}
