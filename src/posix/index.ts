/**
 * The POSIX pattern engine: POSIX regular expressions and bracket expressions converted to RE2 syntax, run
 * on a linear-time engine. A leaf: it imports nothing from the rest of smapd but the error catalogue, so
 * dispatch rules and modules (through the module API) share one engine and one set of rules.
 */
export { LinearRegExp, type LinearRegExpOptions, type MatchScanner } from './engine.js';
export {
  compilePosixRegex,
  convertPosixRegex,
  literalChar,
  DUP_MAX,
  type ConvertedRegex,
  type PosixRegex,
  type PosixRegexOptions,
} from './regex.js';
export { charAt, parseBracket, POSIX_CLASS_NAMES, type Bracket, type BracketOptions } from './bracket.js';
export { PatternError } from '../errors.js';
