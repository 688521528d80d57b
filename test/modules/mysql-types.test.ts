/**
 * The mysql module renders every column type of a binary-protocol row as it did with mysql2 (supportBigNumbers,
 * bigNumberStrings, dateStrings, jsonStrings), against the real MariaDB.
 *
 * The expected texts were obtained by running the module as it was before its own connection replaced mysql2
 * (commit d3092e3) once on this very table, with the positive reply below, and are hard-coded here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mysqlModule, { type MysqlDb } from '../../modules/mysql/index.js';
import { databaseContext, lookUp, openDatabase } from '../helpers/module-context.js';
import { conn, connectServer, needServer, tcpArgs, uniqueName, type Server } from './mysql-fixture.js';

let server: Server | undefined;
const table = uniqueName('smapd_types');
const opened: MysqlDb[] = [];

/** Column, then its text in the rows max, min, zero, float. */
const EXPECTED: readonly (readonly [string, string, string, string, string])[] = [
  ['ti', '127', '-128', '0', '1'],
  ['tiu', '255', '0', '0', '1'],
  ['si', '32767', '-32768', '0', '1'],
  ['siu', '65535', '0', '0', '1'],
  ['mi', '8388607', '-8388608', '0', '1'],
  ['miu', '16777215', '0', '0', '1'],
  ['i', '2147483647', '-2147483648', '0', '1'],
  ['iu', '4294967295', '0', '0', '1'],
  ['bi', '9223372036854775807', '-9223372036854775808', '0', '9007199254740993'],
  ['biu', '18446744073709551615', '0', '0', '9007199254740993'],
  ['f', '3.3999999521443642e+38', '-1.100000023841858', '0', '1.100000023841858'],
  ['d', '1.7976931348623157e+308', '-0.1', '0', '0.30000000000000004'],
  ['dc', '99999999999999999999.9999999999', '-12345.0000000001', '0.0000000000', '0.1000000000'],
  ['y', '2155', '1901', '0', '2000'],
  ['dt', '9999-12-31', '1000-01-01', '0000-00-00', '2024-02-29'],
  ['dtm', '9999-12-31 23:59:59', '1000-01-01 00:00:00', '0000-00-00 00:00:00', '2024-02-29 13:14:15'],
  ['dtm3', '9999-12-31 23:59:59.999', '1000-01-01 00:00:00.500', '2024-02-29 12:00:00', '2024-02-29 13:14:15'],
  ['dtm6', '9999-12-31 23:59:59.999999', '1000-01-01 00:00:00.000001', '2024-02-29 12:34:56.120000', '2024-02-29 13:14:15.000100'],
  ['ts', '2038-01-19 03:14:07.99', '1970-01-01 00:00:01.01', '2024-02-29 00:00:00', '2024-02-29 13:14:15.50'],
  ['tm', '838:59:59', '-838:59:59', '00:00:00', '12:34:56'],
  ['tm6', '838:59:59.000001', '-00:00:01.5', '00:00:00', '-12:34:56.789'],
  ['vc', '\u00fcn\u00efc\u00f8d\u00e9 \u2709 \ud83c\udf89', '', 'a\'b"c\\d', 'x'],
  ['ch', 'caf\u00e9', '', 'ab', 'x'],
  ['tx', 't'.repeat(300), '', 'x', 'x'],
  ['bl', '\u0000\udcff\u0010\udce9', '', 'raw', 'x'],
  ['vb', '\udcfe', '', 'raw', 'x'],
  ['bt', ' \udcaa', '\u0000\u0000', '\u0000\u0001', '\u000f\udcff'],
  ['en', 'b\u00e9', 'a', 'a', 'a'],
  ['st', 'x,z', '', 'x,y,z', 'y'],
  ['js', '{"a": [1, 2.5, "x"], "big": 12345678901234567890}', 'null', '[]', '"str"'],
  ['pt', '{"x":1.5,"y":-2}', '', '', ''],
  ['nu', '', '', '', ''],
];
const ROWS = ['max', 'min', 'zero', 'float'];

const CREATE = `CREATE TABLE ${table} (
  k VARCHAR(20) PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dc DECIMAL(30,10), y YEAR,
  dt DATE, dtm DATETIME, dtm3 DATETIME(3), dtm6 DATETIME(6), ts TIMESTAMP(2) NULL DEFAULT NULL, tm TIME, tm6 TIME(6),
  vc VARCHAR(50) CHARACTER SET utf8mb4, ch CHAR(5) CHARACTER SET latin1, tx TEXT CHARACTER SET utf8mb4, bl BLOB,
  vb VARBINARY(20), bt BIT(12), en ENUM('a','bé'), st SET('x','y','z'), js JSON, pt POINT NULL, nu INT NULL
) CHARACTER SET utf8mb4`;

const INSERT = `INSERT INTO ${table} VALUES
 ('max', 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
  3.4e38, 1.7976931348623157e308, '99999999999999999999.9999999999', 2155,
  '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.99',
  '838:59:59', '838:59:59.000001', 'ünïcødé ✉ 🎉', 'café', REPEAT('t', 300), x'00ff10e9', x'fe', b'101010101010', 'bé', 'x,z',
  '{"a": [1, 2.5, "x"], "big": 12345678901234567890}', POINT(1.5, -2), NULL),
 ('min', -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
  -1.1, -0.1, '-12345.0000000001', 1901,
  '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.5', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.01',
  '-838:59:59', '-00:00:01.5', '', ' ', '', x'', x'', b'0', 'a', '', 'null', NULL, NULL),
 ('zero', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0,
  '0000-00-00', '0000-00-00 00:00:00', '2024-02-29 12:00:00', '2024-02-29 12:34:56.120000', '2024-02-29 00:00:00',
  '00:00:00', '00:00:00', 'a''b"c\\\\d', 'ab', 'x', 'raw', 'raw', b'1', 'a', 'x,y,z', '[]', NULL, NULL),
 ('float', 1, 1, 1, 1, 1, 1, 1, 1, 9007199254740993, 9007199254740993,
  1.1, 0.30000000000000004, '0.1', 2000,
  '2024-02-29', '2024-02-29 13:14:15', '2024-02-29 13:14:15.000', '2024-02-29 13:14:15.000100', '2024-02-29 13:14:15.50',
  '12:34:56', '-12:34:56.789', 'x', 'x', 'x', 'x', 'x', b'111111111111', 'a', 'y', '"str"', NULL, NULL)`;

describe('mysql module column types', () => {
  before(async () => {
    server = await connectServer();
    if (server.admin === null) return;
    // The zero dates need a lenient sql_mode (on this admin session only).
    await server.admin.query("SET SESSION sql_mode = ''");
    await server.admin.query(CREATE);
    await server.admin.query(INSERT);
  });

  after(async () => {
    for (const db of opened) await mysqlModule.closeDb!(db);
    if (server?.admin) {
      await server.admin.query(`DROP TABLE IF EXISTS ${table}`);
      await server.admin.end();
    }
  });

  it('renders each type as the module did with mysql2', async (t) => {
    if (!needServer(t, server)) return;
    const columns = EXPECTED.map((e) => e[0]);
    const db = await openDatabase(
      mysqlModule,
      [...tcpArgs, `query=SELECT ${columns.join(', ')} FROM ${table} WHERE k = $key`, 'positive-reply=OK ' + columns.map((c, i) => `${c}=[\${${i + 1}}]`).join(' ')],
      databaseContext('types', [], 'mysql'),
      opened,
    );
    // All four rows in flight at once on the connection, and again one by one.
    for (const replies of [await Promise.all(ROWS.map((k) => lookUp(mysqlModule, db, 'm', k, conn))), []]) {
      for (let r = 0; r < ROWS.length; r++) {
        const reply = replies[r] ?? (await lookUp(mysqlModule, db, 'm', ROWS[r]!, conn));
        const expected = 'OK ' + EXPECTED.map((e) => `${e[0]}=[${e[r + 1]}]`).join(' ');
        assert.equal(reply, expected, `row ${ROWS[r]}`);
      }
    }
  });
});
