/**
 * The one regular-expression engine for every pattern built from the configuration: RE2 semantics through
 * the pure-JavaScript `re2js` package. It runs in time linear in the input (at most pattern size × key
 * length steps) and never backtracks, so no key can make a pattern stall the event loop, as `^(a+)+$`
 * did on V8's backtracking engine (29 s for a 30-byte key).
 *
 * Why re2js, measured on Node 20 (docs/dispatch.md, "Regular expression engine"): V8's own linear engine
 * (the `l` flag, behind --enable-experimental-regexp-engine) refuses the `u` and `i` flags, lookbehind
 * and large counts (`a{1000}`), so it cannot run these patterns at all; the native `re2` addon needs a
 * C++ build of RE2 and Abseil wherever no prebuilt binary can be fetched, for keys (addresses) on which
 * this engine already takes microseconds.
 *
 * Matching is leftmost-first, as Perl and JavaScript match (not POSIX leftmost-longest), and by code point:
 * a character outside the BMP is one character, a lone surrogate is one character too.
 */
import { RE2JS, type Matcher } from 're2js';
import { PatternError } from '../errors.js';

/** How to compile: the caller's flags, on top of `.` matching a newline (POSIX has no line mode). */
export interface LinearRegExpOptions {
  /** Match regardless of case (Unicode simple case folding). */
  readonly icase?: boolean;
  /** The source uses `(?<=...)` / `(?<!...)` (`\<` and `\>`): a slower mode of the engine, so only on request. */
  readonly lookbehind?: boolean;
}

/** A walk over the matches in one input, for substitutions. */
export interface MatchScanner {
  /** Find the first match that starts at or after `from` (a UTF-16 index); false when there is none. */
  find(from: number): boolean;
  /** Start of the current match (UTF-16 index). */
  start(): number;
  /** End of the current match (UTF-16 index, exclusive). */
  end(): number;
  /** Group `n` of the current match (0 is the whole match); undefined when the group took no part. */
  group(n: number): string | undefined;
}

/** The engine's own refusals, with what to write instead. */
function hintFor(message: string): string {
  if (/repeat count/.test(message)) {
    return ' (the linear-time engine allows counts up to 1000, and nested counts whose product is at most 1000; use + or * instead)';
  }
  return '';
}

/** A compiled pattern. Stateless between calls: `test` and `scan` may be used from anywhere, in any order. */
export class LinearRegExp {
  readonly #re: RE2JS;

  /** `original` is the pattern as written, for the error message. */
  constructor(source: string, opts: LinearRegExpOptions, original: string) {
    let flags = RE2JS.DOTALL;
    if (opts.icase === true) flags |= RE2JS.CASE_INSENSITIVE;
    if (opts.lookbehind === true) flags |= RE2JS.LOOKBEHINDS;
    try {
      this.#re = RE2JS.compile(source, flags);
    } catch (err) {
      const message = (err as Error).message.replace(/^error parsing regexp: /, '');
      throw new PatternError(`cannot compile pattern "${original}": ${message}${hintFor(message)}`);
    }
  }

  /** True when the pattern matches anywhere in `s` (an unanchored search, as regexec(3) does). */
  test(s: string): boolean {
    return this.#re.test(s);
  }

  /** A scanner over `input`'s matches. */
  scan(input: string): MatchScanner {
    return new Scanner(this.#re.matcher(input));
  }
}

class Scanner implements MatchScanner {
  readonly #m: Matcher;

  constructor(m: Matcher) {
    this.#m = m;
  }

  find(from: number): boolean {
    return this.#m.find(from);
  }

  start(): number {
    return this.#m.start();
  }

  end(): number {
    return this.#m.end();
  }

  group(n: number): string | undefined {
    return this.#m.group(n) ?? undefined;
  }
}
