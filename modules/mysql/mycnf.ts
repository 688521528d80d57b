/**
 * A reader for MySQL/MariaDB option files (my.cnf), so a database can take its connection settings from the
 * file the DBA already maintains, as GNU Smap's mysql module did through libmysqlclient. Syntax (as the MySQL
 * manual describes it): `[group]`, `name`, `name = value`, `#`/`;` comments, quoted values with `\n \t \r \b
 * \s \\` escapes, `-` and `_` alike in names, the `loose-` prefix, and `!include FILE` / `!includedir DIR`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModuleArgumentError } from '../../src/modules/api.js';

/** Option values by group name, then by option name (normalised: lower case, `_` → `-`, no `loose-`). */
export type OptionFile = ReadonlyMap<string, ReadonlyMap<string, string>>;

const MAX_INCLUDE_DEPTH = 10;

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', b: '\b', s: ' ', '\\': '\\', '"': '"', "'": "'" };

export function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/_/g, '-').replace(/^loose-/, '');
}

function parseValue(raw: string, where: string): string {
  const text = raw.trim();
  const q = text[0];
  if (q === '"' || q === "'") {
    let out = '';
    for (let i = 1; i < text.length; i++) {
      const c = text[i]!;
      if (c === q) {
        const rest = text.slice(i + 1).trim();
        if (rest !== '' && !rest.startsWith('#') && !rest.startsWith(';')) throw new ModuleArgumentError(`${where}: text after the closing quote`);
        return out;
      }
      if (c === '\\' && i + 1 < text.length) {
        const e = text[++i]!;
        out += ESCAPES[e] ?? '\\' + e;
        continue;
      }
      out += c;
    }
    throw new ModuleArgumentError(`${where}: unterminated ${q} quote`);
  }
  const hash = text.search(/\s#/);
  const bare = (hash < 0 ? text : text.slice(0, hash)).trim();
  return bare.replace(/\\(.)/g, (all, e: string) => ESCAPES[e] ?? all);
}

/** Parse option-file text; relative `!include` names resolve against the directory of `file`. */
export function parseOptionFile(text: string, file: string, depth = 0): Map<string, Map<string, string>> {
  const groups = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    const where = `${file}:${n + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('!')) {
      const m = /^!(include|includedir)\s+(.+)$/.exec(line);
      if (!m) throw new ModuleArgumentError(`${where}: unknown directive ${line.split(/\s/)[0]}`);
      const target = path.resolve(path.dirname(file), m[2]!.trim());
      const files = m[1] === 'include' ? [target] : listCnfFiles(target, where);
      for (const f of files) merge(groups, readOptionFile(f, depth + 1, where));
      continue;
    }
    if (line.startsWith('[')) {
      const m = /^\[\s*([^\]]*?)\s*\]\s*(?:[#;].*)?$/.exec(line);
      if (!m || m[1] === '') throw new ModuleArgumentError(`${where}: malformed group header ${line}`);
      const name = m[1]!.toLowerCase();
      current = groups.get(name) ?? new Map();
      groups.set(name, current);
      continue;
    }
    if (current === null) throw new ModuleArgumentError(`${where}: option before the first [group]`);
    const eq = line.indexOf('=');
    if (eq < 0) {
      current.set(normaliseName(line), '');
    } else {
      current.set(normaliseName(line.slice(0, eq)), parseValue(line.slice(eq + 1), where));
    }
  }
  return groups;
}

function listCnfFiles(dir: string, where: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ModuleArgumentError(`${where}: cannot read !includedir ${dir}: ${(err as Error).message}`);
  }
  return names.filter((n) => n.endsWith('.cnf')).sort().map((n) => path.join(dir, n));
}

function merge(into: Map<string, Map<string, string>>, from: Map<string, Map<string, string>>): void {
  for (const [g, opts] of from) {
    const target = into.get(g) ?? new Map<string, string>();
    for (const [k, v] of opts) target.set(k, v);
    into.set(g, target);
  }
}

/** Read and parse an option file; any problem is a config error naming the file. */
export function readOptionFile(file: string, depth = 0, from?: string): Map<string, Map<string, string>> {
  if (depth > MAX_INCLUDE_DEPTH) throw new ModuleArgumentError(`${from ?? file}: !include nested too deeply (loop?)`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ModuleArgumentError(`${from ? from + ': ' : ''}cannot read option file ${file}: ${(err as Error).message}`);
  }
  return parseOptionFile(text, file, depth);
}

/** The options of the named groups, later groups overriding earlier ones (as `[client]` then `[smapd]`). */
export function groupOptions(file: OptionFile, groups: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const g of groups) {
    for (const [k, v] of file.get(g.toLowerCase()) ?? []) out.set(k, v);
  }
  return out;
}
