/** The my.cnf reader of the mysql module (modules/mysql/mycnf.ts), on real files. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { groupOptions, parseOptionFile, readOptionFile } from '../../modules/mysql/mycnf.js';
import { ModuleArgumentError } from '../../src/errors.js';

let dir: string;

describe('my.cnf reader', () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'smapd-mycnf-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads groups, comments, quoting, escapes and name spellings', () => {
    const text = [
      '# comment',
      '; another comment',
      '[client]',
      'host=db.example.org',
      '  port = 3307   # trailing comment',
      'ssl_ca = /etc/ssl/ca.pem',
      'loose-socket=/run/mysqld/mysqld.sock',
      'skip-ssl',
      '[Smapd]  # group names ignore case',
      'password = "p#ss w\\tord"',
      "user = 'o\\'brien'",
      'database=mail\\sdb',
    ].join('\n');
    const f = parseOptionFile(text, '/virtual/my.cnf');
    const client = f.get('client')!;
    assert.equal(client.get('host'), 'db.example.org');
    assert.equal(client.get('port'), '3307');
    assert.equal(client.get('ssl-ca'), '/etc/ssl/ca.pem');
    assert.equal(client.get('socket'), '/run/mysqld/mysqld.sock');
    assert.equal(client.get('skip-ssl'), '');
    const smapd = f.get('smapd')!;
    assert.equal(smapd.get('password'), 'p#ss w\tord');
    assert.equal(smapd.get('user'), "o'brien");
    assert.equal(smapd.get('database'), 'mail db');
    const merged = groupOptions(f, ['client', 'SMAPD']);
    assert.equal(merged.get('host'), 'db.example.org');
    assert.equal(merged.get('user'), "o'brien");
  });

  it('follows !include and !includedir (only *.cnf, in name order), later values winning', () => {
    mkdirSync(path.join(dir, 'conf.d'));
    writeFileSync(path.join(dir, 'conf.d', '20-late.cnf'), '[client]\nport=3309\n');
    writeFileSync(path.join(dir, 'conf.d', '10-early.cnf'), '[client]\nport=3308\nuser=early\n');
    writeFileSync(path.join(dir, 'conf.d', 'README'), 'not an option file at all\n');
    writeFileSync(path.join(dir, 'extra.cnf'), '[smapd]\ndatabase=fromextra\n');
    writeFileSync(path.join(dir, 'my.cnf'), '[client]\nhost=h\nport=1\n!includedir conf.d\n!include extra.cnf\n');
    const f = readOptionFile(path.join(dir, 'my.cnf'));
    assert.deepEqual(Object.fromEntries(groupOptions(f, ['client', 'smapd'])), {
      host: 'h',
      port: '3309',
      user: 'early',
      database: 'fromextra',
    });
  });

  it('reports malformed files with file and line', () => {
    const bad: [string, RegExp][] = [
      ['host=x\n', /x\.cnf:1: option before the first \[group\]/],
      ['[client\n', /x\.cnf:1: malformed group header/],
      ['[client]\npassword="open\n', /x\.cnf:2: unterminated " quote/],
      ['[client]\npassword="a" b\n', /x\.cnf:2: text after the closing quote/],
      ['[client]\n!exec rm -rf /\n', /x\.cnf:2: unknown directive !exec/],
    ];
    for (const [text, why] of bad) {
      assert.throws(() => parseOptionFile(text, '/virtual/x.cnf'), (e: unknown) => e instanceof ModuleArgumentError && why.test(e.message), text);
    }
    writeFileSync(path.join(dir, 'loop.cnf'), '[client]\n!include loop.cnf\n');
    assert.throws(() => readOptionFile(path.join(dir, 'loop.cnf')), /nested too deeply/);
    assert.throws(() => readOptionFile(path.join(dir, 'absent.cnf')), /cannot read option file .*absent\.cnf/);
  });
});
