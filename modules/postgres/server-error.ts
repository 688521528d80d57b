/**
 * The errors PostgreSQL reports (ErrorResponse): the message (with its detail) and the SQLSTATE, which says
 * whether the connection survives the error.
 */
import { BackendError } from '../../src/modules/api.js';
import { readFields } from './wire.js';

/** An error the server reported (ErrorResponse), with its SQLSTATE. */
export class PgServerError extends BackendError {
  constructor(
    message: string,
    readonly sqlState: string,
    readonly severity: string,
  ) {
    super(message);
  }

  /** Whether the connection is over: connection exceptions (08), operator intervention (57P), FATAL. */
  get fatal(): boolean {
    return this.sqlState.startsWith('08') || this.sqlState.startsWith('57P') || this.severity === 'FATAL' || this.severity === 'PANIC';
  }
}

export function serverError(buf: Buffer, start: number, end: number): PgServerError {
  const f = readFields(buf, start, end);
  const detail = f.get('D');
  const text = (f.get('M') ?? 'unknown error') + (detail !== undefined ? ` (${detail})` : '');
  return new PgServerError(text, f.get('C') ?? '', f.get('V') ?? f.get('S') ?? '');
}
