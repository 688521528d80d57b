/**
 * ldap: answers lookups from an LDAP directory (OpenLDAP, 389-ds, Active Directory) with ldapts. Options
 * follow GNU Smap's ldap module; keys are escaped in the filter (RFC 4515), which GNU Smap did not do.
 *
 *   module ldap ldap uri="ldap://ldap1.example.org ldap://ldap2.example.org" base=dc=example,dc=org
 *   database users ldap filter="(&(objectClass=inetOrgPerson)(mail=$key))" positive-reply="OK ${uid}"
 */
import { BackendTimeoutError, clientFieldsUsed, defineModule, ModuleArgumentError, type ClientField, type DatabaseContext } from '../../src/modules/api.js';
import { DirectoryError, LdapConnection } from './connection.js';
import { compileFilter, type CompiledFilter, type RequestValues } from './filter.js';
import { compileReplies, renderEntry, renderRequest, type LdapReplies } from './replies.js';
import { LDAP_OPTIONS, parseLdapOptions, resolveSettings, type LdapSettings } from './settings.js';

export interface LdapDb {
  readonly ctx: DatabaseContext;
  readonly settings: LdapSettings;
  readonly filter: CompiledFilter;
  readonly replies: LdapReplies;
  conn: LdapConnection | null;
}

/** What the client is told; the full reason (server, LDAP result code) goes to the log. */
const UNAVAILABLE = 'directory unavailable';
const TIMED_OUT = 'directory lookup timed out';
const REFUSED = 'directory lookup failed';

function clientFields(db: LdapDb): ClientField[] {
  return clientFieldsUsed([...db.filter.variables, ...db.replies.positive.variables, ...db.replies.negative.variables]);
}

export default defineModule<LdapDb>({
  apiVersion: 1,
  capabilities: ['query'],
  multiProcess: true,
  answerDependsOn: clientFields,

  init(args, ctx) {
    ctx.parseOptions(args, LDAP_OPTIONS, { context: `module ${ctx.moduleId}` });
  },

  initDb(args, ctx) {
    const where = `database ${ctx.dbId}`;
    const { values, given } = parseLdapOptions(args, ctx, where);
    if (values.filter === undefined) {
      throw new ModuleArgumentError(`${where}: filter= is required (in the database statement, the module statement or the config file)`);
    }
    return {
      ctx,
      settings: resolveSettings(values, ctx.configDir, where),
      filter: compileFilter(ctx, String(values.filter), where),
      replies: compileReplies(ctx, values, given),
      conn: null,
    };
  },

  openDb(db) {
    if (db.conn === null) db.conn = new LdapConnection(db.settings);
  },

  async query(db, map, key, conn) {
    const req: RequestValues = { key, map, src: conn.src, dst: conn.dst, server: conn.serverId };
    if (db.conn === null) db.conn = new LdapConnection(db.settings);
    // A key that is not UTF-8 cannot equal any LDAP string value (they are UTF-8), and ldapts could not send
    // its bytes as they are: it finds nothing, without asking.
    if (!isWellFormed(key)) return renderRequest(db.replies.negative, req);
    try {
      const entry = await db.conn.first({ filter: db.filter.render(req), attributes: db.replies.attributes });
      if (entry === null) return renderRequest(db.replies.negative, req);
      return renderEntry(db.replies, entry, req);
    } catch (err) {
      const timedOut = err instanceof BackendTimeoutError;
      db.ctx.log.error({ db: db.ctx.dbId, err: (err as Error).message }, timedOut ? 'ldap lookup timed out' : 'ldap lookup failed');
      const why = timedOut ? TIMED_OUT : err instanceof DirectoryError ? REFUSED : UNAVAILABLE;
      return renderRequest(timedOut ? db.replies.timeout : db.replies.onerror, req, why);
    }
  },

  async closeDb(db) {
    const c = db.conn;
    db.conn = null;
    if (c !== null) await c.close();
  },
});

/** `String.prototype.isWellFormed` (Node 20; not in the ES2022 typings): false when a lone surrogate stands for a non-UTF-8 byte. */
function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}
