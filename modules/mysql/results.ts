/**
 * Reading the reply to one COM_STMT_EXECUTE, packet by packet: an ERR, an OK (no result set), or result sets
 * (a column count, the column definitions, an EOF unless CLIENT_DEPRECATE_EOF, binary rows, and an EOF or OK
 * whose status says whether another set follows, as after a CALL). A lookup keeps the first row of the first
 * result set and reads the rest only to find where the reply ends.
 */
import { BackendError } from '../../src/modules/api.js';
import type { ResultRow } from '../sql-common/replies.js';
import { endStatus, MAX_PAYLOAD, PayloadReader, readError, SERVER_MORE_RESULTS_EXISTS } from './packets.js';
import { readColumn, readRow, type Column } from './rows.js';

/**
 * The column definitions of a statement's last result, with their packet bytes: a new result whose
 * definitions have the same bytes (every execute of a SELECT) reuses them instead of decoding them again.
 */
export type ColumnCache = { raw: Buffer; column: Column }[];

const enum Phase {
  /** OK, ERR, or the column count of a result set. */
  Start,
  Columns,
  ColumnsEof,
  Rows,
}

export class ResultReader {
  /** Whether the connection agreed on CLIENT_DEPRECATE_EOF (no EOF after the columns, an OK at the end). */
  deprecateEof = false;
  private phase = Phase.Start;
  private columnsLeft = 0;
  private columns: Column[] = [];
  private names: string[] | null = null;
  private firstSet = true;
  private haveSet = false;
  private row: ResultRow | null = null;
  private error: Error | null = null;

  /** Read one packet of the reply; true when it was the last one (then `take()` the outcome). */
  push(cache: ColumnCache, buf: Buffer, start: number, end: number): boolean {
    const first = buf[start]!;
    switch (this.phase) {
      case Phase.Start:
        if (first === 0xff) return this.end(readError(buf, start, end));
        if (first === 0x00) return (endStatus(buf, start, end, false) & SERVER_MORE_RESULTS_EXISTS) === 0;
        this.columnsLeft = new PayloadReader(buf, start, end).lenenc();
        this.phase = Phase.Columns;
        return false;
      case Phase.Columns:
        if (this.firstSet) this.columns.push(this.column(cache, this.columns.length, buf, start, end));
        if (--this.columnsLeft === 0) this.phase = this.deprecateEof ? Phase.Rows : Phase.ColumnsEof;
        return false;
      case Phase.ColumnsEof:
        this.phase = Phase.Rows;
        return false;
      case Phase.Rows:
        if (first === 0xff) return this.end(readError(buf, start, end));
        // A binary row starts with 0x00; 0xfe (in a packet shorter than the most) ends the set.
        if (first === 0xfe && end - start < MAX_PAYLOAD) {
          if (this.firstSet) this.haveSet = true;
          this.firstSet = false;
          this.phase = Phase.Start;
          return (endStatus(buf, start, end, !this.deprecateEof) & SERVER_MORE_RESULTS_EXISTS) === 0;
        }
        if (this.firstSet && this.row === null) {
          this.names ??= this.columns.map((c) => c.name);
          this.row = { names: this.names, values: readRow(buf, start, end, this.columns) };
        }
        return false;
    }
  }

  /** The outcome of the reply just read (the first row, null for none, or the error), and ready for the next. */
  take(): { err: Error | null; row: ResultRow | null } {
    let err = this.error;
    if (err === null && !this.haveSet) err = new BackendError('the query returned no result set (it must be a SELECT or a CALL that selects)');
    const row = this.row;
    this.phase = Phase.Start;
    this.columns = [];
    this.names = null;
    this.firstSet = true;
    this.haveSet = false;
    this.row = null;
    this.error = null;
    return { err, row };
  }

  private end(err: Error): boolean {
    this.error = err;
    return true;
  }

  private column(cache: ColumnCache, i: number, buf: Buffer, start: number, end: number): Column {
    const known = cache[i];
    if (known !== undefined && known.raw.length === end - start && buf.compare(known.raw, 0, known.raw.length, start, end) === 0) return known.column;
    const column = readColumn(buf, start, end);
    cache[i] = { raw: Buffer.from(buf.subarray(start, end)), column };
    return column;
  }
}
