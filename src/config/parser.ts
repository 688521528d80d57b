/**
 * The config reader: file → words → statements → a frozen `SmapdConfig`. It never stops at the first
 * mistake: every error of every file is collected and thrown together as `ConfigErrors`, so that
 * `smapd -t` shows the whole list at once.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { decodeBytes } from '../protocol/bytes.js';
import path from 'node:path';
import { ConfigError, ConfigErrors } from '../errors.js';
import { parseDatabase, DATABASE_KEYWORDS } from './database-block.js';
import { parseDispatch } from './dispatch.js';
import { deepFreeze, finishDraft, newDraft, type Draft } from './draft.js';
import { GLOBAL_HANDLERS } from './globals.js';
import { lex, LexState, type Statement } from './lexer.js';
import { parseServer, SERVER_KEYWORDS } from './server-block.js';
import { didYouMean } from './suggest.js';
import type { SmapdConfig } from './types.js';
import { argsOf } from './values.js';

/** Command-line settings that win over the file, as in GNU Smap; `log` is merged field by field. */
export type ConfigOverrides = Partial<Omit<SmapdConfig, 'log' | 'file'>> & {
  readonly log?: Partial<SmapdConfig['log']>;
};

const BLOCK_KEYWORDS = new Set(['server', 'database']);
/** Statements that cannot be inside a block: meeting one means the block's `end` is missing. */
const BLOCK_BREAKERS = new Set(['server', 'database', 'module', 'dispatch', 'include']);

interface ParseState {
  readonly draft: Draft;
  readonly errors: ConfigError[];
  readonly lexState: LexState;
  /** Real paths of the files being read, innermost last, to refuse include loops. */
  readonly fileStack: string[];
}

function readText(file: string): string {
  try {
    // Decoded as requests are (bytes.ts): a Latin-1 `key eq caf\xe9` rule matches the key a client sends.
    return decodeBytes(readFileSync(file));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot read config file ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

function include(stmt: Statement, st: ParseState): void {
  const [w] = argsOf(stmt, 1, 1, 'include FILE');
  const file = path.resolve(path.dirname(stmt.loc.file), w!.text);
  const real = realPath(file);
  if (st.fileStack.includes(real)) throw new ConfigError(`include loop: ${file} is already being read`, stmt.loc);
  let text: string;
  try {
    text = readText(file);
  } catch (err) {
    throw new ConfigError((err as Error).message, stmt.loc);
  }
  parseFile(text, file, real, st);
}

/** Runs one top-level statement; `body` is the block of a `server` or `database` statement. */
type StatementRunner = (stmt: Statement, body: Statement[] | undefined, st: ParseState) => void;

/** Every top-level statement, in one table; a Map, so no word can reach Object.prototype. */
const STATEMENTS: ReadonlyMap<string, StatementRunner> = new Map<string, StatementRunner>([
  ...Object.entries(GLOBAL_HANDLERS).map(([k, h]): [string, StatementRunner] => [k, (stmt, _body, st) => h(stmt, st.draft)]),
  ['server', (stmt, body, st) => parseServer(stmt, body, st.draft, st.errors)],
  ['database', (stmt, body, st) => parseDatabase(stmt, body, st.draft, st.errors)],
  ['dispatch', (stmt, _body, st) => parseDispatch(stmt, st.draft)],
  ['include', (stmt, _body, st) => include(stmt, st)],
]);
const ALL_KEYWORDS = [...STATEMENTS.keys()];

function unknownStatement(stmt: Statement): ConfigError {
  const keyword = stmt.words[0]!.text;
  if (SERVER_KEYWORDS.includes(keyword)) {
    return new ConfigError(`'${keyword}' is allowed only inside a server block (server ID URL begin ... end)`, stmt.loc);
  }
  if (DATABASE_KEYWORDS.includes(keyword)) {
    return new ConfigError(`'${keyword}' is allowed only inside a database block (database NAME MODULE begin ... end)`, stmt.loc);
  }
  if (keyword === 'begin') {
    return new ConfigError(`'begin' must end the line of its server or database statement`, stmt.loc);
  }
  if (keyword === 'end') return new ConfigError(`'end' without a block to close`, stmt.loc);
  return new ConfigError(`unrecognized statement '${keyword}'${didYouMean(keyword, ALL_KEYWORDS)}`, stmt.loc);
}

function runStatement(stmt: Statement, body: Statement[] | undefined, st: ParseState): void {
  const run = STATEMENTS.get(stmt.words[0]!.text);
  if (run === undefined) throw unknownStatement(stmt);
  run(stmt, body, st);
}

/** Run the statements of one file; a block is its header plus the statements up to its `end`. */
function runStatements(statements: readonly Statement[], st: ParseState): void {
  for (let i = 0; i < statements.length; i++) {
    let stmt = statements[i]!;
    const keyword = stmt.words[0]!.text;
    const last = stmt.words[stmt.words.length - 1]!;
    let body: Statement[] | undefined;
    if (BLOCK_KEYWORDS.has(keyword) && stmt.words.length > 1 && last.text === 'begin' && !last.quoted) {
      stmt = { words: stmt.words.slice(0, -1), loc: stmt.loc };
      body = [];
      let j = i + 1;
      let closed = false;
      for (; j < statements.length; j++) {
        const s = statements[j]!;
        const k = s.words[0]!;
        if (k.text === 'end' && !k.quoted) {
          closed = true;
          if (s.words.length > 1) st.errors.push(new ConfigError(`'end' takes no arguments`, s.loc));
          break;
        }
        if (BLOCK_BREAKERS.has(k.text)) break;
        body.push(s);
      }
      if (!closed) {
        const before = j < statements.length ? ` before line ${statements[j]!.loc.line}` : ' before the end of the file';
        st.errors.push(new ConfigError(`the ${keyword} block that begins here has no 'end'${before}`, stmt.loc));
      }
      i = closed ? j : j - 1;
    }
    try {
      runStatement(stmt, body, st);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      st.errors.push(err);
    }
  }
}

function parseFile(text: string, file: string, real: string, st: ParseState): void {
  st.fileStack.push(real);
  const { statements, errors } = lex(text, file, st.lexState);
  st.errors.push(...errors);
  runStatements(statements, st);
  st.fileStack.pop();
}

/** Errors in file order (the order files were first read), then by line; the sort is stable. */
function sortErrors(errors: ConfigError[]): ConfigError[] {
  const fileOrder = new Map<string, number>();
  for (const e of errors) if (e.loc && !fileOrder.has(e.loc.file)) fileOrder.set(e.loc.file, fileOrder.size);
  const key = (e: ConfigError) => (e.loc ? [fileOrder.get(e.loc.file)!, e.loc.line] : [-1, 0]);
  return [...errors].sort((a, b) => {
    const [fa, la] = key(a);
    const [fb, lb] = key(b);
    return fa! - fb! || la! - lb!;
  });
}

/** Parse config text as if read from `file` (used for relative paths, includes and messages). */
export function parseConfigText(text: string, file: string): SmapdConfig {
  const abs = path.resolve(file);
  const st: ParseState = { draft: newDraft(abs), errors: [], lexState: new LexState(), fileStack: [] };
  parseFile(text, abs, realPath(abs), st);
  const config = finishDraft(st.draft, st.errors);
  if (st.errors.length > 0) throw new ConfigErrors(sortErrors(st.errors));
  return config;
}

export function applyOverrides(config: SmapdConfig, overrides: ConfigOverrides): SmapdConfig {
  const { log, ...rest } = overrides;
  const merged: SmapdConfig = {
    ...config,
    ...rest,
    log: {
      ...config.log,
      ...log,
      debug: { ...config.log.debug, ...log?.debug },
    },
  };
  return deepFreeze(merged);
}

/** Read and check `file`; throws `ConfigErrors` listing every problem found. */
export function loadConfig(file: string, overrides?: ConfigOverrides): SmapdConfig {
  let text: string;
  try {
    text = readText(file);
  } catch (err) {
    throw new ConfigErrors([err as ConfigError]);
  }
  const config = parseConfigText(text, file);
  return overrides ? applyOverrides(config, overrides) : config;
}
