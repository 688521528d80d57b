/**
 * Result sets of prepared statements (the binary protocol): column definitions, and a row's values as the
 * text a reply shows. Each type is rendered as the module rendered it with mysql2 (supportBigNumbers,
 * bigNumberStrings, dateStrings, jsonStrings), so replies did not change with the driver: integers exact
 * (BIGINT UNSIGNED too), FLOAT and DOUBLE as JavaScript prints the number, DECIMAL as the server's text,
 * dates and times as strings, binary columns as bytes, NULL as null.
 */
import { BackendError } from '../../src/modules/api.js';
import { PayloadReader } from './packets.js';

/** Column types (enum_field_types). */
const T = {
  DECIMAL: 0, TINY: 1, SHORT: 2, LONG: 3, FLOAT: 4, DOUBLE: 5, NULL: 6, TIMESTAMP: 7, LONGLONG: 8, INT24: 9,
  DATE: 10, TIME: 11, DATETIME: 12, YEAR: 13, NEWDATE: 14, VECTOR: 242, JSON: 245, NEWDECIMAL: 246, GEOMETRY: 255,
} as const;

const UNSIGNED_FLAG = 0x20;
const BINARY_CHARSET = 63;

export interface Column {
  readonly name: string;
  readonly type: number;
  readonly unsigned: boolean;
  readonly binary: boolean;
  readonly decimals: number;
}

/** Read a column definition packet (Protocol::ColumnDefinition41). */
export function readColumn(buf: Buffer, start: number, end: number): Column {
  const r = new PayloadReader(buf, start, end);
  for (let i = 0; i < 4; i++) r.skip(r.lenenc()); // catalog, schema, table, original table
  const name = r.lenencText();
  r.skip(r.lenenc()); // original name
  r.lenenc(); // length of the fixed fields
  const charset = r.u16();
  r.skip(4); // column length
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  return { name, type, unsigned: (flags & UNSIGNED_FLAG) !== 0, binary: charset === BINARY_CHARSET, decimals };
}

/** A value as the reply renders it (replies.ts columnText): text, bytes of a binary column, or null. */
export type Value = string | Buffer | null;

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));
const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Decode a binary row (its first byte is the 0x00 header): a NULL bitmap with a 2-bit offset, then the
 * non-NULL values in column order.
 */
export function readRow(buf: Buffer, start: number, end: number, columns: readonly Column[]): Value[] {
  const bitmap = start + 1;
  const r = new PayloadReader(buf, bitmap + ((columns.length + 9) >> 3), end);
  const values: Value[] = new Array<Value>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const bit = i + 2;
    values[i] = buf[bitmap + (bit >> 3)]! & (1 << (bit & 7)) ? null : readValue(r, columns[i]!);
  }
  return values;
}

function readValue(r: PayloadReader, c: Column): Value {
  const { buf } = r;
  let at = r.at;
  switch (c.type) {
    case T.TINY:
      r.skip(1);
      return String(c.unsigned ? buf.readUInt8(at) : buf.readInt8(at));
    case T.SHORT:
      r.skip(2);
      return String(c.unsigned ? buf.readUInt16LE(at) : buf.readInt16LE(at));
    case T.YEAR:
      r.skip(2);
      return String(buf.readUInt16LE(at));
    case T.LONG:
    case T.INT24:
      r.skip(4);
      return String(c.unsigned ? buf.readUInt32LE(at) : buf.readInt32LE(at));
    case T.LONGLONG: {
      r.skip(8);
      const high = c.unsigned ? buf.readUInt32LE(at + 4) : buf.readInt32LE(at + 4);
      const n = high * 0x100000000 + buf.readUInt32LE(at);
      if (Number.isSafeInteger(n)) return String(n);
      return (c.unsigned ? buf.readBigUInt64LE(at) : buf.readBigInt64LE(at)).toString();
    }
    case T.FLOAT:
      r.skip(4);
      return String(buf.readFloatLE(at));
    case T.DOUBLE:
      r.skip(8);
      return String(buf.readDoubleLE(at));
    case T.NULL:
      return null;
    case T.DATE:
    case T.DATETIME:
    case T.TIMESTAMP:
    case T.NEWDATE:
      return dateText(r, c);
    case T.TIME:
      return timeText(r);
    case T.DECIMAL:
    case T.NEWDECIMAL:
      return r.lenencBytes().toString('latin1');
    case T.JSON:
      // MySQL's JSON columns say charset binary, but hold UTF-8 text.
      return r.lenencText();
    case T.GEOMETRY:
      return geometryText(r.lenencBytes());
    case T.VECTOR: {
      const b = r.lenencBytes();
      const floats: number[] = [];
      for (at = 0; at + 4 <= b.length; at += 4) floats.push(b.readFloatLE(at));
      return JSON.stringify(floats);
    }
    default:
      return c.binary ? Buffer.from(r.lenencBytes()) : r.lenencText();
  }
}

/**
 * DATE, DATETIME, TIMESTAMP: a length byte (0, 4, 7 or 11), then year, month, day, hour, minute, second,
 * microseconds as far as they are not zero. A fraction is cut to the column's decimals.
 */
function dateText(r: PayloadReader, c: Column): string {
  const length = r.u8();
  let text = '0000-00-00';
  if (length >= 4) text = `${pad(r.u16(), 4)}-${pad2(r.u8())}-${pad2(r.u8())}`;
  if (length >= 7) text += ` ${pad2(r.u8())}:${pad2(r.u8())}:${pad2(r.u8())}`;
  else if (c.type === T.DATETIME || c.type === T.TIMESTAMP) text += ' 00:00:00';
  if (length >= 11) {
    const micro = r.u32();
    text += '.' + (c.decimals ? pad(micro, 6).slice(0, c.decimals) : String(micro));
  }
  return text;
}

/** TIME: a length byte (0, 8 or 12), a sign, days, hours, minutes, seconds, microseconds; hours include the days. */
function timeText(r: PayloadReader): string {
  const length = r.u8();
  if (length === 0) return '00:00:00';
  const negative = r.u8() !== 0;
  let hours = 0;
  let minutes = 0;
  let seconds = 0;
  let micro = 0;
  if (length >= 8) {
    hours = r.u32() * 24 + r.u8();
    minutes = r.u8();
    seconds = r.u8();
  }
  if (length >= 12) micro = r.u32();
  const fraction = micro ? ('.' + pad(micro, 6)).replace(/0+$/, '') : '';
  return `${negative ? '-' : ''}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}${fraction}`;
}

type Geometry = { x: number; y: number } | Geometry[] | null;

/** A GEOMETRY value (a 4-byte SRID, then WKB) as JSON: points as {x, y}, the rest as nested arrays. */
function geometryText(b: Buffer): string | null {
  if (b.length < 4) return null;
  let at = 4;
  const read = (): Geometry => {
    if (at + 5 > b.length) throw new BackendError('MySQL sent a truncated geometry');
    const le = b[at] === 1;
    const type = le ? b.readUInt32LE(at + 1) : b.readUInt32BE(at + 1);
    at += 5;
    const u32 = (): number => {
      const v = le ? b.readUInt32LE(at) : b.readUInt32BE(at);
      at += 4;
      return v;
    };
    const dbl = (): number => {
      const v = le ? b.readDoubleLE(at) : b.readDoubleBE(at);
      at += 8;
      return v;
    };
    const point = (): { x: number; y: number } => ({ x: dbl(), y: dbl() });
    const times = <V>(f: () => V): V[] => Array.from({ length: u32() }, f);
    switch (type) {
      case 1:
        return point();
      case 2:
        return times(point);
      case 3:
        return times(() => times(point));
      case 4:
      case 5:
      case 6:
      case 7:
        return times(read);
      default:
        return null;
    }
  };
  return JSON.stringify(read());
}
