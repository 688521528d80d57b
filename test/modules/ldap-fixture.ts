/**
 * The ldap tests' directory: a private slapd (bench/slapd.ts) with a few people whose attributes exercise
 * filter escaping and 8-bit values. Missing slapd skips the tests with a message, or fails them under
 * SMAPD_REQUIRE_LDAP=1 (as CI sets).
 */
import type { TestContext } from 'node:test';
import { READER_DN, READER_PW, Slapd as PrivateSlapd, slapdUnavailable, SUFFIX } from '../../bench/slapd.js';

export { freePort, READER_DN, READER_PW, slapdUnavailable, SUFFIX } from '../../bench/slapd.js';

/** Skip the test when slapd is missing (fail under SMAPD_REQUIRE_LDAP=1). True when it may run. */
export function needSlapd(t: TestContext): boolean {
  const why = slapdUnavailable();
  if (why === null) return true;
  if (process.env.SMAPD_REQUIRE_LDAP === '1') throw new Error(`${why}; SMAPD_REQUIRE_LDAP=1 requires it`);
  t.skip(why);
  return false;
}

function entries(): string {
  const people = [
    ['jdoe', 'John Doe', ['jdoe@example.org', 'john.doe@example.org']],
    ['asmith', 'Ann Smith', ['ann@example.org']],
    ['paren', 'Paren (Test)', ['x)(uid=*@example.org']],
    ['star', 'Star', ['*']],
    ['back', 'Back Slash', ['back\\slash@example.org']],
    ['uni', 'Ünï Cødé', ['uni@example.org']],
  ] as const;
  const blocks = [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ${READER_DN}\nobjectClass: person\ncn: reader\nsn: reader\nuserPassword: ${READER_PW}\n`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people\n`,
  ];
  for (const [uid, cn, mails] of people) {
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    const lines = [`dn: uid=${uid},ou=people,${SUFFIX}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn:: ${b64(cn)}`, `sn: ${uid}`];
    for (const m of mails) lines.push(`mail:: ${b64(m)}`);
    blocks.push(lines.join('\n') + '\n');
  }
  return blocks.join('\n');
}

/** The private slapd with the test entries. */
export class Slapd extends PrivateSlapd {
  override setup(): void {
    super.setup(entries());
  }
}
