/** User and group names are resolved through NSS (getent), so LDAP or sssd users work; files as a fallback. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { groupId, userId, userPrimaryGroup } from '../../src/server/accounts.js';

describe('accounts', () => {
  let dir: string;
  const savedPath = process.env.PATH;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-accounts-'));
  });
  after(() => {
    process.env.PATH = savedPath;
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves names the system knows (root, and a missing name is undefined)', () => {
    assert.equal(userId('root'), 0);
    assert.equal(userPrimaryGroup('root'), 0);
    assert.equal(groupId('root'), 0);
    assert.equal(userId('no-such-user-smapd-test'), undefined);
    assert.equal(groupId('no-such-group-smapd-test'), undefined);
    assert.equal(userId('1234'), 1234);
  });

  it('asks NSS (getent), so users that are not in /etc/passwd resolve', () => {
    // A stand-in getent that knows a user only a directory service would: /etc/passwd does not have it.
    const bin = path.join(dir, 'bin');
    const script = path.join(bin, 'getent');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      script,
      '#!/bin/sh\ncase "$1:$2" in\n passwd:ldapuser) echo "ldapuser:*:4242:4243:LDAP user:/:/bin/false";;\n' +
        ' group:ldapgroup) echo "ldapgroup:*:4244:";;\n *) exit 2;;\nesac\n',
    );
    chmodSync(script, 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      assert.equal(userId('ldapuser'), 4242);
      assert.equal(userPrimaryGroup('ldapuser'), 4243);
      assert.equal(groupId('ldapgroup'), 4244);
      assert.equal(userId('root'), undefined, 'the answer is NSS’s, not a read of /etc/passwd');
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('reads /etc/passwd and /etc/group where there is no getent', () => {
    process.env.PATH = path.join(dir, 'empty');
    try {
      assert.equal(userId('root'), 0);
      assert.equal(groupId('root'), 0);
      assert.equal(userId('no-such-user-smapd-test'), undefined);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
