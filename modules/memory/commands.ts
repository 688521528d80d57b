/**
 * The control-socket commands of a `memory` database (`smapc --control db NAME COMMAND ARGS...`). Their
 * output is meant for both people and scripts: `resolve` prints the bare value, `list` prints one
 * `key value` line per binding, and every error is a throw, which the control socket reports as `ERR`.
 */
import type { ControlCommand } from '../../src/modules/api.js';
import type { MemoryDb } from './db.js';

/**
 * Quote a key for output the way the control socket splits words, so a listed key with spaces can be pasted
 * back into a command.
 */
export function quoteKey(key: string): string {
  return key === '' || /[\s"\\]/.test(key) ? '"' + key.replace(/[\\"]/g, (c) => '\\' + c) + '"' : key;
}

function usage(text: string): never {
  throw new Error(`usage: ${text}`);
}

/** `bind [--replace] KEY VALUE...` or `bind KEY VALUE... --replace`; `--` ends the options. */
function parseBind(args: readonly string[]): { key: string; value: string; replace: boolean } {
  const words = [...args];
  let replace = false;
  let endOfOptions = false;
  while (words.length > 0 && words[0]!.startsWith('--')) {
    const w = words.shift()!;
    if (w === '--') {
      endOfOptions = true;
      break;
    }
    if (w !== '--replace') throw new Error(`bind: unknown option '${w}' (the only option is --replace)`);
    replace = true;
  }
  if (!endOfOptions && words.length > 2 && words[words.length - 1] === '--replace') {
    words.pop();
    replace = true;
  }
  if (words.length < 2) usage('bind [--replace] KEY VALUE...');
  return { key: words[0]!, value: words.slice(1).join(' '), replace };
}

function oneKey(name: string, args: readonly string[]): string {
  if (args.length !== 1) usage(`${name} KEY (quote a key that contains spaces)`);
  return args[0]!;
}

function noArgs(name: string, args: readonly string[]): void {
  if (args.length !== 0) usage(`${name} (no arguments)`);
}

export const commands: Readonly<Record<string, ControlCommand<MemoryDb>>> = {
  bind: {
    help: 'bind [--replace] KEY VALUE... - bind KEY; an existing binding is kept unless --replace is given',
    run(db, args) {
      const { key, value, replace } = parseBind(args);
      const outcome = db.table.bind(key, value, replace);
      const k = quoteKey(db.table.normalize(key));
      switch (outcome.kind) {
        case 'added':
          db.changed();
          return `added ${k} ${value}`;
        case 'replaced':
          db.changed();
          return `replaced ${k} ${value} (was: ${outcome.previous})`;
        case 'kept':
          return `exists ${k} ${outcome.existing} (not changed; use --replace to change it)`;
        case 'same':
          return `exists ${k} ${value} (already bound to this value)`;
      }
    },
  },
  resolve: {
    help: 'resolve KEY - print the value bound to KEY',
    run(db, args) {
      const key = oneKey('resolve', args);
      const v = db.table.get(key);
      if (v === undefined) throw new Error(`no binding for ${quoteKey(key)}`);
      return v;
    },
  },
  remove: {
    help: 'remove KEY - delete the binding of KEY',
    run(db, args) {
      const key = oneKey('remove', args);
      const v = db.table.remove(key);
      if (v === undefined) throw new Error(`no binding for ${quoteKey(key)}`);
      db.changed();
      return `removed ${quoteKey(db.table.normalize(key))} ${v}`;
    },
  },
  list: {
    help: 'list - every binding as "key value", one per line, sorted by key',
    run(db, args) {
      noArgs('list', args);
      return db.table
        .sorted()
        .map(([k, v]) => `${quoteKey(k)} ${v}`)
        .join('\n');
    },
  },
  count: {
    help: 'count - how many bindings the table holds, and its capacity',
    run(db, args) {
      noArgs('count', args);
      return `${db.table.size} of ${db.table.capacity} bindings used`;
    },
  },
  clear: {
    help: 'clear - remove every binding',
    run(db, args) {
      noArgs('clear', args);
      const n = db.table.clear();
      if (n > 0) db.changed();
      return `removed ${n} binding${n === 1 ? '' : 's'}`;
    },
  },
  save: {
    help: 'save - write the snapshot file now and report whether that worked',
    async run(db, args) {
      noArgs('save', args);
      if (db.writer === undefined) throw new Error(`database ${db.id} has no snapshot= file`);
      await db.writer.save();
      return `saved ${db.table.size} binding${db.table.size === 1 ? '' : 's'} to ${db.writer.file}`;
    },
  },
};
