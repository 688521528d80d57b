/**
 * A sockmap request is `MAP KEY`, split at the first space; the key may itself contain spaces and may be
 * empty (`"map "`). Bytes are read as UTF-8 (SMTPUTF8 addresses).
 */
const SPACE = 0x20;

export interface Request {
  readonly map: string;
  readonly key: string;
}

/** Split a request payload; returns null when there is no space (no map name). */
export function parseRequest(buf: Buffer, start: number, end: number): Request | null {
  const sp = buf.indexOf(SPACE, start);
  if (sp < 0 || sp >= end || sp === start) return null;
  return { map: buf.toString('utf8', start, sp), key: buf.toString('utf8', sp + 1, end) };
}
