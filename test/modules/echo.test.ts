import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import echo from '../../modules/echo.js';
import { ModuleArgumentError, type ConnInfo } from '../../src/modules/api.js';
import { databaseContext, moduleContext } from '../helpers/module-context.js';

const conn: ConnInfo = { serverId: 'test', family: 'unix', src: '', srcPort: 0, dst: '/tmp/s', dstPort: 0 };

async function ask(args: string[], map = 'aliases', key = 'root'): Promise<string> {
  const db = await echo.initDb(args, databaseContext('db'));
  return echo.query!(db, map, key, conn);
}

describe('echo module', () => {
  it('answers queries only', () => {
    assert.deepEqual(echo.capabilities, ['query']);
    assert.equal(echo.transform, undefined);
  });

  it('joins the database words with single spaces', async () => {
    assert.equal(await ask(['NOTFOUND', '[no', 'such', 'map]']), 'NOTFOUND [no such map]');
    assert.equal(await ask(['OK', 'a', 'b']), 'OK a b');
  });

  it('keeps a leading status word and normalises its case', async () => {
    assert.equal(await ask(['TEMP', 'backend', 'down']), 'TEMP backend down');
    assert.equal(await ask(['perm', 'bad']), 'PERM bad');
    assert.equal(await ask(['NOMORE']), 'NOMORE ');
    assert.equal(await ask(['TIMEOUT', 'slow']), 'TIMEOUT slow');
  });

  it('sends a bare NOTFOUND with its trailing space', async () => {
    assert.equal(await ask(['NOTFOUND']), 'NOTFOUND ');
  });

  it('turns text without a status word into an OK reply', async () => {
    assert.equal(await ask(['hello', 'world']), 'OK hello world');
  });

  it('computes a reply without variables once', async () => {
    const db = await echo.initDb(['OK', 'fixed'], databaseContext('db'));
    assert.equal(db.constant, 'OK fixed');
    assert.equal(await echo.query!(db, 'm1', 'k1', conn), 'OK fixed');
    assert.equal(await echo.query!(db, 'm2', 'k2', conn), 'OK fixed');
  });

  it('renders ${map} and ${key} per request', async () => {
    const db = await echo.initDb(['OK', '${key}', 'from', '$map'], databaseContext('db'));
    assert.equal(db.constant, undefined);
    assert.equal(await echo.query!(db, 'aliases', 'root', conn), 'OK root from aliases');
    assert.equal(await echo.query!(db, 'virtual', 'bob', conn), 'OK bob from virtual');
  });

  it('never lets a variable choose the status word', async () => {
    assert.equal(await ask(['${key}'], 'm', 'PERM injected'), 'OK PERM injected');
    assert.equal(await ask(['NOTFOUND', '${key}'], 'm', 'OK x'), 'NOTFOUND OK x');
  });

  it('writes $$ as a literal dollar sign', async () => {
    assert.equal(await ask(['OK', 'costs', '$$5']), 'OK costs $5');
  });

  it('keeps the reply on one line when the key holds a newline', async () => {
    assert.equal(await ask(['OK', '${key}'], 'm', 'a\nb'), 'OK a b');
  });

  it('rejects a database without reply text', async () => {
    await assert.rejects(async () => echo.initDb([], databaseContext('db')), {
      name: 'ModuleArgumentError',
      message: /echo needs the reply text/,
    });
  });

  it('rejects an empty reply text', async () => {
    await assert.rejects(async () => echo.initDb([''], databaseContext('db')), ModuleArgumentError);
  });

  it('rejects unknown variables instead of rendering them empty', async () => {
    await assert.rejects(async () => echo.initDb(['OK', '${xform}'], databaseContext('db')), {
      name: 'ModuleArgumentError',
      message: /unknown variable \$\{xform\}/,
    });
  });

  it('rejects module-statement arguments', async () => {
    await assert.rejects(async () => echo.init!(['OK'], moduleContext('echo')), ModuleArgumentError);
    await assert.doesNotReject(async () => echo.init!([], moduleContext('echo')));
  });
});
