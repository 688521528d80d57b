/**
 * A reader for ldap.conf-style files (the `config-file=` of GNU Smap's ldap module): one `KEYWORD value` per
 * line, keywords case-insensitive, `#` comments on lines of their own, unknown keywords ignored (the same file
 * often serves other LDAP clients). Only the keywords this module understands are returned.
 */
import { readFileSync } from 'node:fs';
import { ModuleArgumentError } from '../../src/modules/api.js';

/** ldap.conf keyword (lower case) → the module option it sets. */
const KEYWORDS: ReadonlyMap<string, string> = new Map([
  ['uri', 'uri'],
  ['base', 'base'],
  ['binddn', 'binddn'],
  ['bindpw', 'bindpw'],
  ['bindpwfile', 'bindpwfile'],
  ['tls_cacert', 'tls-cacert'],
  ['tls-cacert', 'tls-cacert'],
  ['ldap_version', 'ldap_version'],
  ['network_timeout', 'connect-timeout'],
  ['timeout', 'timeout'],
]);

/** Read `file`; returns option name → value (the last occurrence wins, as in libldap). */
export function readLdapConf(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ModuleArgumentError(`cannot read LDAP config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const option = KEYWORDS.get(m[1]!.toLowerCase());
    if (option !== undefined) out.set(option, m[2]!.trim());
  }
  return out;
}
