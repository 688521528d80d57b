/**
 * What a config pattern costs on the linear-time engine (src/posix, re2js), next to V8's backtracking engine
 * that smapd used before: the hot-path cost of one dispatch `regexp` test and one sed search on ordinary
 * keys, and the time for the keys that stalled the backtracking engine (those are not run on it: the first
 * takes about 30 s, the last never ends). Run: `npm run build && node dist/bench/patterns.js`.
 */
import v8 from 'node:v8';
import { compilePosixRegex } from '../src/posix/index.js';

const KEYS = ['john.doe@example.com', 'someone@other.example.org', 'postmaster', 'a.very.long.local.part@example.com'];

/** Nanoseconds per call, after a warm-up. */
function perCall(fn: (i: number) => unknown, n = 300_000): number {
  for (let i = 0; i < 20_000; i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t) / n;
}

/** The same pattern as a POSIX ERE (for smapd) and as the JavaScript source smapd used to build. */
const HOT: ReadonlyArray<{ name: string; posix: string; js: string; icase?: boolean }> = [
  { name: 'anchored class', posix: '^[[:alnum:]._-]+@example\\.com$', js: '^[0-9A-Za-z._\\-]+@example\\.com$' },
  { name: 'alternation, ignore case', posix: '^RE(x|y)$', js: '^RE(x|y)$', icase: true },
  { name: 'unanchored words', posix: '(spam|junk|bulk)', js: '(spam|junk|bulk)' },
  { name: 'word start (lookbehind)', posix: '\\<admin', js: '\\b(?=\\w)admin' },
];

console.log('dispatch regexp test, ns per call (4 keys in turn)');
for (const p of HOT) {
  const linear = compilePosixRegex(p.posix, { extended: true, icase: p.icase ?? false }).regex;
  const js = new RegExp(p.js, p.icase === true ? 'isu' : 'su');
  const a = perCall((i) => js.test(KEYS[i & 3]!));
  const b = perCall((i) => linear.test(KEYS[i & 3]!));
  console.log(`  ${p.name.padEnd(28)} V8 ${a.toFixed(0).padStart(5)}   linear ${b.toFixed(0).padStart(6)}`);
}

{
  const linear = compilePosixRegex('<(.*)>', { extended: true }).regex;
  const js = new RegExp('<(.*)>', 'gsu');
  const key = '<john.doe@example.com>';
  const a = perCall(() => {
    js.lastIndex = 0;
    return js.exec(key)?.[1];
  });
  const b = perCall(() => {
    const m = linear.scan(key);
    return m.find(0) ? m.group(1) : undefined;
  });
  console.log(`sed search with a group, ns per call: V8 ${a.toFixed(0)}   linear ${b.toFixed(0)}`);
}

console.log('keys that stalled the backtracking engine, ms on the linear one');
const PATHOLOGICAL: ReadonlyArray<[string, string]> = [
  ['^(a+)+$', 'a'.repeat(29) + '!'],
  ['(a|aa)+$', 'a'.repeat(35) + 'b'],
  ['(a|aa)+$', 'a'.repeat(60) + 'b'],
  ['(a|aa)+$', 'a'.repeat(99_000) + 'b'],
];
for (const [posix, key] of PATHOLOGICAL) {
  const { regex } = compilePosixRegex(posix, { extended: true });
  const t = performance.now();
  const m = regex.scan(key);
  const found = m.find(0);
  console.log(`  ${posix.padEnd(10)} ${String(key.length).padStart(6)}-byte key: ${(performance.now() - t).toFixed(2)} ms (match: ${found})`);
}

// V8's own linear engine, for the record: what it refuses of the patterns smapd builds.
v8.setFlagsFromString('--enable-experimental-regexp-engine');
console.log("V8's experimental linear engine (flag l) on the same patterns:");
for (const [source, flags] of [
  ['^[0-9A-Za-z._\\-]+@example\\.com$', 'lsu'],
  ['^RE(x|y)$', 'lis'],
  ['\\b(?=\\w)admin', 'ls'],
  ['a{1000}', 'ls'],
  ['^(a+)+$', 'ls'],
] as const) {
  let verdict: string;
  try {
    new RegExp(source, flags);
    verdict = 'accepted';
  } catch (err) {
    verdict = `refused (${(err as Error).message.replace(/^.*: /, '')})`;
  }
  console.log(`  /${source}/${flags}: ${verdict}`);
}
