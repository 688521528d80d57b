/** Query placeholder conversion (modules/sql-common/query.ts) for both SQL dialects. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileQuery, MYSQL_DIALECT, SQLITE_DIALECT } from '../../modules/sql-common/query.js';
import { ModuleArgumentError } from '../../src/errors.js';

describe('compileQuery, sqlite dialect', () => {
  it('keeps named placeholders and turns $key forms into them', () => {
    const q = compileQuery('SELECT v FROM t WHERE m = :map AND k = $key AND s = ${src}', SQLITE_DIALECT);
    assert.equal(q.sql, 'SELECT v FROM t WHERE m = :map AND k = :key AND s = :src');
    assert.deepEqual(q.params, ['map', 'key', 'src']);
    assert.deepEqual(q.warnings, []);
  });

  it("strips the quotes of the GNU form '$key'", () => {
    const q = compileQuery("SELECT v FROM t WHERE k = '$key' AND m = '${map}'", SQLITE_DIALECT);
    assert.equal(q.sql, 'SELECT v FROM t WHERE k = :key AND m = :map');
  });

  it('turns a literal that mixes text and variables into a concatenation', () => {
    const q = compileQuery("SELECT v FROM t WHERE k LIKE '%@$key' OR k = 'it''s $map!'", SQLITE_DIALECT);
    assert.equal(q.sql, "SELECT v FROM t WHERE k LIKE ('%@' || :key) OR k = ('it''s ' || :map || '!')");
    assert.deepEqual(q.params, ['key', 'map']);
  });

  it('leaves comments, plain literals and identifiers alone', () => {
    const src = `SELECT "value" FROM [map] -- :nothing here\nWHERE key = :key /* $key */ AND x = 'a:b'`;
    const q = compileQuery(src, SQLITE_DIALECT);
    assert.equal(q.sql, `SELECT "value" FROM [map] -- :nothing here\nWHERE key = :key /* $key */ AND x = 'a:b'`);
    assert.deepEqual(q.params, ['key']);
  });

  it('warns about a query without placeholders and about an unknown $name in a literal', () => {
    const q = compileQuery("SELECT 'x$kye'", SQLITE_DIALECT);
    assert.equal(q.params.length, 0);
    assert.equal(q.warnings.length, 2);
    assert.match(q.warnings.join('\n'), /no placeholder/);
    assert.match(q.warnings.join('\n'), /\$kye/);
  });

  it('rejects what it cannot bind safely, with the reason', () => {
    const bad: [string, RegExp][] = [
      ['SELECT v FROM t WHERE k = ?', /positional \?/],
      ['SELECT v FROM t WHERE k = $foo', /unknown variable \$foo/],
      ['SELECT v FROM t WHERE k = ${foo}', /unknown variable \$\{foo\}/],
      ['SELECT v FROM t WHERE k = :foo', /unknown placeholder :foo/],
      ['SELECT v FROM t WHERE k = @key', /@name parameters/],
      ['SELECT v FROM t WHERE k = "$key"', /quoted identifier/],
      ["SELECT v FROM t WHERE k = 'open", /unterminated ' string/],
      ['SELECT v /* open', /unterminated \/\* comment/],
      ['   ', /empty/],
    ];
    for (const [sql, why] of bad) {
      assert.throws(() => compileQuery(sql, SQLITE_DIALECT), (e: unknown) => e instanceof ModuleArgumentError && why.test(e.message), sql);
    }
  });
});

describe('compileQuery, mysql dialect', () => {
  it('binds positionally, in order, repeating a variable used twice', () => {
    const q = compileQuery("SELECT v FROM t WHERE k = '$key' AND (m = $map OR m2 = :map) AND k2 = \"$key\"", MYSQL_DIALECT);
    assert.equal(q.sql, 'SELECT v FROM t WHERE k = ? AND (m = ? OR m2 = ?) AND k2 = ?');
    assert.deepEqual(q.params, ['key', 'map', 'map', 'key']);
  });

  it('uses CONCAT for mixed literals and keeps backslash escapes intact', () => {
    const q = compileQuery("SELECT v FROM t WHERE k LIKE '%\\'$key' AND z = '\\$key'", MYSQL_DIALECT);
    assert.equal(q.sql, "SELECT v FROM t WHERE k LIKE CONCAT('%\\'', ?) AND z = '\\$key'");
    assert.deepEqual(q.params, ['key']);
  });

  it('leaves user variables, := and identifiers with $ alone; reads # comments', () => {
    const q = compileQuery('SELECT @n := 1, my$col FROM `t$key` WHERE k = :key # $map\n AND 5--1', MYSQL_DIALECT);
    assert.equal(q.sql, 'SELECT @n := 1, my$col FROM `t$key` WHERE k = ? # $map\n AND 5--1');
    assert.deepEqual(q.params, ['key']);
  });
});
