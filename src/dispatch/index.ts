/**
 * The dispatch engine's public face: the server compiles the config's rules once (and again on reload) and
 * calls `dispatch` for every request.
 */
export { compileRules, type Dispatcher } from './dispatcher.js';
export type { DatabaseHandle, DatabaseLookup } from '../modules/database.js';
export { compileFrom } from './address.js';
export { compileGlob, type StringTest } from './glob.js';
export { compileRegexp } from './regexp.js';
export { PatternError } from '../errors.js';
