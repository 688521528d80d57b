/**
 * The postgres module's codec (modules/postgres/wire.ts) against `pg-protocol`, node-postgres's own
 * serializer and parser, in one process: the CPU per lookup of encoding Bind + Execute + Sync, and of decoding
 * one answer (BindComplete, DataRow, PortalSuspended, ReadyForQuery), 16 lookups to a batch or a chunk as at
 * 16 in flight. Why the module has a codec of its own; run it again when either changes.
 *
 *   node dist/bench/pg-codec.js [lookups]
 */
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import * as W from '../modules/postgres/wire.js';

const N = Number(process.argv[2] ?? 300_000);
const STATEMENT = 'smapd_0123456789abcdef01234567';
const VALUES = ['user1234@example.org'];

function time(label: string, run: () => void): void {
  run();
  const t0 = process.hrtime.bigint();
  run();
  console.log(`${label.padEnd(44)} ${(Number(process.hrtime.bigint() - t0) / N).toFixed(0).padStart(6)} ns/lookup`);
}

function answer(value: string): Buffer {
  const v = Buffer.from(value);
  const row = Buffer.alloc(11 + v.length);
  row[0] = 0x44;
  row.writeInt32BE(10 + v.length, 1);
  row.writeInt16BE(1, 5);
  row.writeInt32BE(v.length, 7);
  v.copy(row, 11);
  return Buffer.concat([Buffer.from([0x32, 0, 0, 0, 4]), row, Buffer.from([0x73, 0, 0, 0, 4, 0x5a, 0, 0, 0, 5, 0x49])]);
}

const chunk = Buffer.concat(Array.from({ length: 16 }, () => answer('box of user1234@example.org')));

time('encode, wire.ts LookupWriter', () => {
  const w = new W.LookupWriter(STATEMENT);
  for (let i = 0; i < N; i++) {
    w.lookup(VALUES);
    if (i % 16 === 15) w.take();
  }
});
time('encode, pg-protocol serialize', () => {
  for (let i = 0; i < N; i++) {
    const parts = [serialize.bind({ statement: STATEMENT, values: VALUES }), serialize.execute({ rows: 1 }), serialize.sync()];
    if (i % 16 === 15) Buffer.concat(parts);
  }
});
time('decode, wire.ts MessageReader + readDataRow', () => {
  const r = new W.MessageReader();
  let n = 0;
  for (let i = 0; i < N / 16; i++) r.push(chunk, (type, b, start) => (n += type === 0x44 ? W.readDataRow(b, start).length : 0));
});
time('decode, pg-protocol Parser', () => {
  const p = new Parser();
  let n = 0;
  for (let i = 0; i < N / 16; i++) p.parse(chunk, (m) => (n += m.name === 'dataRow' ? (m as unknown as { fields: unknown[] }).fields.length : 0));
});
