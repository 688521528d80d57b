/**
 * The `echo` module: every lookup gets the same reply, the database's words joined by single spaces.
 *
 *   database default echo NOTFOUND [no such map]
 *   database greeting echo OK hello ${key} from ${map}
 *
 * A text without a leading status word is sent as `OK text` (GNU Smap sent it raw, which no client reads
 * as a valid reply). The reply is built once; only a text with variables is rendered per request.
 */
import { compileReplyTemplate, defineModule, mapAndKeyOnly, ModuleArgumentError, type ReplyTemplate } from '../src/modules/api.js';

const VARS = ['map', 'key'] as const;

export default defineModule<ReplyTemplate>({
  apiVersion: 1,
  capabilities: ['query'],
  answerDependsOn: mapAndKeyOnly,
  init(args) {
    if (args.length > 0) {
      throw new ModuleArgumentError(`echo takes no module arguments (got '${args.join(' ')}'); put the reply on the database statement`);
    }
  },
  initDb(args, ctx) {
    if (args.length === 0) {
      throw new ModuleArgumentError(`echo needs the reply text (for example: database ${ctx.dbId} echo NOTFOUND [no such map])`);
    }
    return compileReplyTemplate(ctx, args.join(' '), VARS, 'echo reply');
  },
  query(db, map, key) {
    return db.constant ?? db.render((name) => (name === 'map' ? map : name === 'key' ? key : undefined));
  },
});
