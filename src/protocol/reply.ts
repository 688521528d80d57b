/**
 * The shared reply formatter (smapd's libsmap). Every reply a module or the core sends is made here, so that
 * each one starts with a known status word followed by a space (a bare `OK` crashes Sendmail and reads as
 * "not found" in Postfix; a bare `NOTFOUND` is rejected by OpenSMTPD).
 */

/**
 * The longest reply payload any sockmap client reads: Sendmail's limit (Postfix's is 100000). The ceiling of
 * smapd's `max-reply-size` and the default limit of smapd's own client; the one place this number is written.
 */
export const REPLY_SIZE_CEILING = 1_000_000;

/** The sockmap status words. */
export type ReplyStatus = 'OK' | 'NOTFOUND' | 'NOMORE' | 'TEMP' | 'TIMEOUT' | 'PERM';

export const REPLY_STATUSES: readonly ReplyStatus[] = ['OK', 'NOTFOUND', 'NOMORE', 'TEMP', 'TIMEOUT', 'PERM'];

declare const replyBrand: unique symbol;

/**
 * A reply payload (`STATUS text`, without the netstring frame). It is a plain string at run time; the brand
 * makes the type checker insist that it comes from this formatter.
 */
export type Reply = string & { readonly [replyBrand]: true };

// Replies must be one line: a newline inside would read as garbage to line-based clients and logs.
const CONTROL_NEWLINES = /[\r\n]/g;

function clean(text: string): string {
  return text.indexOf('\n') >= 0 || text.indexOf('\r') >= 0 ? text.replace(CONTROL_NEWLINES, ' ') : text;
}

function make(status: ReplyStatus, text: string): Reply {
  return (status + ' ' + clean(text)) as Reply;
}

/** `OK value`. */
export function ok(value: string): Reply {
  return make('OK', value);
}

/** `NOTFOUND ` (always with the trailing space). */
export const NOTFOUND: Reply = 'NOTFOUND ' as Reply;

/** `NOTFOUND text`; `text` is informational only. */
export function notFound(text = ''): Reply {
  return text === '' ? NOTFOUND : make('NOTFOUND', text);
}

/** `NOMORE text`: not found, and stop searching further maps (MeTA1). */
export function noMore(text = ''): Reply {
  return make('NOMORE', text);
}

/** `TEMP reason`: a temporary failure; the client retries later. */
export function temp(reason: string): Reply {
  return make('TEMP', reason);
}

/** `TIMEOUT reason`: the backend did not answer in time (clients treat it like TEMP). */
export function timeout(reason: string): Reply {
  return make('TIMEOUT', reason);
}

/** `PERM reason`: a permanent failure (Postfix turns it into a configuration error, 451). */
export function perm(reason: string): Reply {
  return make('PERM', reason);
}

/** Any status word with text; for modules that take the status from a template or a table. */
export function reply(status: ReplyStatus, text = ''): Reply {
  return status === 'NOTFOUND' && text === '' ? NOTFOUND : make(status, text);
}

/** True when `v` starts with `word` and a space (the first character is already known to match). */
function startsWithStatus(v: string, word: string): boolean {
  const n = word.length;
  if (v.charCodeAt(n) !== 32) return false;
  for (let i = 1; i < n; i++) if (v.charCodeAt(i) !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * True when `value` has the shape of a reply this formatter makes: a status word and a space. A Reply is a
 * plain string at run time, so this is how the core tells a module's answer from a string it built by hand
 * (`'alice@example.org'`, `'OK'` without its space), which must not be sent. It looks at the first few
 * characters only (it runs on every answer of a module; a scan for line breaks would cost more than the rest
 * of the lookup), so a hand-made `OK a\nb` passes: modules make replies with `ctx.reply`, which folds them.
 */
export function isReply(value: string): value is Reply {
  switch (value.charCodeAt(0)) {
    case 79: // OK
      return value.charCodeAt(1) === 75 && value.charCodeAt(2) === 32;
    case 78: // NOTFOUND, NOMORE
      return startsWithStatus(value, 'NOTFOUND') || startsWithStatus(value, 'NOMORE');
    case 84: // TEMP, TIMEOUT
      return startsWithStatus(value, 'TEMP') || startsWithStatus(value, 'TIMEOUT');
    case 80: // PERM
      return startsWithStatus(value, 'PERM');
    default:
      return false;
  }
}

/** The status word of a reply. */
export function statusOf(r: Reply): ReplyStatus {
  const sp = r.indexOf(' ');
  return (sp < 0 ? r : r.slice(0, sp)) as ReplyStatus;
}

/**
 * Turn free text that a template produced (`OK ${value}`, `NOTFOUND`, `TEMP db down`) into a reply. The first
 * word must be a status word (case-insensitive, normalised to upper case); anything else becomes `OK text`
 * so a template like `${alias}` still answers something a client understands.
 */
export function parseReply(text: string): Reply {
  const trimmed = text.replace(/^\s+/, '');
  const sp = trimmed.search(/\s/);
  const word = (sp < 0 ? trimmed : trimmed.slice(0, sp)).toUpperCase();
  if ((REPLY_STATUSES as readonly string[]).includes(word)) {
    const rest = sp < 0 ? '' : trimmed.slice(sp + 1);
    return reply(word as ReplyStatus, rest);
  }
  return ok(trimmed);
}

/**
 * A reply payload as another socketmap server sent it, for a module that forwards lookups (`sockmap`): the
 * upstream's answer goes on unchanged, whatever its status. Undefined when the payload does not start with an
 * upper-case status word, which no client would understand either. Two repairs only, each keeping the
 * status: a bare status word gets its space (a bare `OK` crashes Sendmail), and CR/LF become spaces, as in
 * every reply.
 */
export function relay(payload: string): Reply | undefined {
  // The usual case, a status word and its space, in a few character comparisons.
  if (isReply(payload)) return clean(payload) as Reply;
  // Any known status word followed by a space passed isReply, so what is left is a bare word or no status.
  return (REPLY_STATUSES as readonly string[]).includes(payload) ? ((payload + ' ') as Reply) : undefined;
}

/** The formatter as one object, handed to modules in their context. */
export interface ReplyFormatter {
  ok(value: string): Reply;
  notFound(text?: string): Reply;
  noMore(text?: string): Reply;
  temp(reason: string): Reply;
  timeout(reason: string): Reply;
  perm(reason: string): Reply;
  reply(status: ReplyStatus, text?: string): Reply;
  parse(text: string): Reply;
  /** An upstream socketmap server's reply payload, passed on unchanged; undefined when it is not a reply. */
  relay(payload: string): Reply | undefined;
  statusOf(r: Reply): ReplyStatus;
}

export const replies: ReplyFormatter = Object.freeze({
  ok,
  notFound,
  noMore,
  temp,
  timeout,
  perm,
  reply,
  parse: parseReply,
  relay,
  statusOf,
});
