/**
 * The `sed` module: rewrites a key (or, in a `transform` rule, a map name or key) with sed-style
 * s-expressions. As a database it answers the positive reply when the expressions changed the key and the
 * negative reply when they did not.
 *
 *   module sed sed icase
 *   database dequote sed 's/<(.*)>/\1/'
 *   database domain sed noextended 's/.*@\(.*\)/\1/' positive-reply='OK ${xform}'
 */
import {
  defineModule,
  defineReplyOptions,
  mapAndKeyOnly,
  ModuleArgumentError,
  type DatabaseContext,
  type ModuleContext,
  type OptionSpec,
  type Reply,
  type ReplyFormatter,
  type ReplyTemplate,
} from '../../src/modules/api.js';
import { parseExpressions, type SedExpression } from './expr.js';
import { substituteAll } from './substitute.js';

const REPLY_VARS = ['map', 'key', 'xform'] as const;

const REPLIES = defineReplyOptions({
  positive: { default: 'OK ${xform}', variables: REPLY_VARS },
  negative: { variables: REPLY_VARS },
  // An error leaves no rewritten key to show.
  onerror: { variables: ['map', 'key'] },
});

const OPTIONS: OptionSpec = {
  icase: { type: 'boolean', default: false },
  extended: { type: 'boolean', default: true },
  ...REPLIES.options,
  // Milliseconds of matching one lookup may use; see substitute(). Keys that mail servers send need microseconds.
  'time-limit': { type: 'duration', default: 100 },
};

const OPTION_NAMES = new Set(Object.keys(OPTIONS));
const BOOLEAN_NAMES = new Set(['icase', 'extended']);

interface SedDb {
  readonly expressions: readonly SedExpression[];
  readonly positive: ReplyTemplate;
  readonly negative: ReplyTemplate;
  readonly onerror: ReplyTemplate | undefined;
  readonly timeLimitMs: number;
  readonly reply: ReplyFormatter;
  readonly log: DatabaseContext['log'];
}

/**
 * Database words are options or s-expressions in any order. Expressions may contain `=` (`s/=/@/`), so a
 * word is taken as an option only when its name is one, and everything else goes to the expression parser,
 * whose error names the word and the expected form.
 */
function isOptionWord(word: string): boolean {
  const eq = word.indexOf('=');
  const name = eq < 0 ? word : word.slice(0, eq);
  return OPTION_NAMES.has(name) || (eq < 0 && name.startsWith('no') && BOOLEAN_NAMES.has(name.slice(2)));
}

function looksLikeExpression(word: string): boolean {
  return /^s([!-/:-@[-`{-~]|$)/.test(word);
}

function checkModuleArgs(args: readonly string[], ctx: ModuleContext): void {
  for (const word of args) {
    if (!isOptionWord(word) && looksLikeExpression(word)) {
      throw new ModuleArgumentError(
        `s-expressions belong on database statements, not on the module statement: '${word}'`,
      );
    }
  }
  ctx.parseOptions(args, OPTIONS);
}

function initDb(args: readonly string[], ctx: DatabaseContext): SedDb {
  checkModuleArgs(ctx.moduleArgs, ctx);
  const optionWords = args.filter(isOptionWord);
  const exprWords = args.filter((w) => !isOptionWord(w));
  if (exprWords.length === 0) {
    throw new ModuleArgumentError(`no s-expression given (for example: database ${ctx.dbId} sed 's/<(.*)>/\\1/')`);
  }
  // Module words first, so the database's own options win.
  const parsed = ctx.parseOptions([...ctx.moduleArgs, ...optionWords], OPTIONS);
  const { values } = parsed;
  const defaults = { icase: values['icase'] === true, extended: values['extended'] === true };
  for (const word of exprWords) {
    if (!looksLikeExpression(word)) {
      throw new ModuleArgumentError(
        `'${word}' is neither an option (icase, extended, their no- forms, positive-reply=, negative-reply=, ` +
          `onerror-reply=, time-limit=) nor an s-expression (s/REGEX/REPLACEMENT/FLAGS)`,
      );
    }
  }
  const expressions = exprWords.flatMap((w) => parseExpressions(w, defaults));
  const { positive, negative, onerror } = REPLIES.compile(parsed, ctx);
  const timeLimitMs = Number(parsed.values['time-limit']);
  if (!(timeLimitMs >= 1)) throw new ModuleArgumentError(`time-limit must be at least 1ms, not ${timeLimitMs}ms`);
  return {
    expressions,
    positive,
    negative,
    onerror,
    timeLimitMs,
    reply: ctx.reply,
    log: ctx.log,
  };
}

function query(db: SedDb, map: string, key: string): Reply {
  let xform: string;
  try {
    xform = substituteAll(db.expressions, key, db.timeLimitMs);
  } catch (err) {
    // Past the time limit (a huge key with `g`), or an engine fault: TEMP, so the client retries later.
    // A key that ran past the limit may be 100 KB long: log its start and its length, not all of it.
    const shown = key.length > 256 ? `${key.slice(0, 256)}...` : key;
    db.log.warn({ err, map, key: shown, keyLength: key.length }, 'sed: transformation failed');
    if (db.onerror) return db.onerror.render((name) => (name === 'map' ? map : name === 'key' ? key : undefined));
    return db.reply.temp(`sed: transformation failed: ${(err as Error).message}`);
  }
  const template = xform === key ? db.negative : db.positive;
  return (
    template.constant ??
    template.render((name) => (name === 'xform' ? xform : name === 'key' ? key : name === 'map' ? map : undefined))
  );
}

export default defineModule<SedDb>({
  apiVersion: 1,
  capabilities: ['query', 'transform'],
  answerDependsOn: mapAndKeyOnly,
  init(args, ctx) {
    checkModuleArgs(args, ctx);
  },
  initDb,
  query,
  transform(db, input) {
    const out = substituteAll(db.expressions, input, db.timeLimitMs);
    return out === input ? null : out;
  },
});
