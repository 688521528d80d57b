/**
 * Property: POSIX bracket expressions (`[a-c[:digit:]]`, `[^]x-]`, …), as dispatch `regexp` rules and sed
 * write them, match exactly the characters a small oracle says: the set of the members (single characters,
 * ranges, character classes of the C locale), negated by a leading `^`. The expressions are generated in
 * POSIX's own spelling: `]` first to be literal, `-` last, `\` literal inside the brackets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePosixRegex } from '../../src/posix/index.js';

type Member = { kind: 'char'; c: string } | { kind: 'range'; lo: string; hi: string } | { kind: 'class'; name: string };

const CLASSES: Readonly<Record<string, (c: string) => boolean>> = {
  digit: (c) => /^[0-9]$/.test(c),
  alpha: (c) => /^[A-Za-z]$/.test(c),
  upper: (c) => /^[A-Z]$/.test(c),
  lower: (c) => /^[a-z]$/.test(c),
  alnum: (c) => /^[A-Za-z0-9]$/.test(c),
  xdigit: (c) => /^[0-9A-Fa-f]$/.test(c),
  space: (c) => ' \t\n\r\f\v'.includes(c),
  blank: (c) => c === ' ' || c === '\t',
  punct: (c) => /^[!-/:-@[-`{-~]$/.test(c),
};

const LETTERS = 'abcdefxyzABCXYZ0123459';
const SPECIALS = '.*+?(){}|$\\/^';
const member: fc.Arbitrary<Member> = fc.oneof(
  fc.constantFrom(...LETTERS, ...SPECIALS).map((c): Member => ({ kind: 'char', c })),
  fc
    .tuple(fc.constantFrom(...LETTERS), fc.constantFrom(...LETTERS))
    .filter(([a, b]) => a <= b)
    .map(([lo, hi]): Member => ({ kind: 'range', lo, hi })),
  fc.constantFrom(...Object.keys(CLASSES)).map((name): Member => ({ kind: 'class', name })),
);

interface Bracket {
  negate: boolean;
  members: Member[];
  closeFirst: boolean; // a literal `]`, written first
  dashLast: boolean; // a literal `-`, written last
}

const bracket: fc.Arbitrary<Bracket> = fc.record({
  negate: fc.boolean(),
  members: fc.array(member, { minLength: 1, maxLength: 5 }),
  closeFirst: fc.boolean(),
  dashLast: fc.boolean(),
});

function write(b: Bracket): string {
  const body = b.members
    .map((m) => (m.kind === 'char' ? m.c : m.kind === 'range' ? `${m.lo}-${m.hi}` : `[:${m.name}:]`))
    .join('');
  // A `^` that is not the negation must not come first; the closing `]` first is a member, not the end.
  const lead = b.closeFirst ? ']' : '';
  const safeBody = !b.closeFirst && body.startsWith('^') ? body.slice(1) + '^' : body;
  return `[${b.negate ? '^' : ''}${lead}${safeBody}${b.dashLast ? '-' : ''}]`;
}

function oracle(b: Bracket, c: string): boolean {
  let inSet = (b.closeFirst && c === ']') || (b.dashLast && c === '-');
  for (const m of b.members) {
    if (m.kind === 'char' && m.c === c) inSet = true;
    if (m.kind === 'range' && c.length === 1 && c >= m.lo && c <= m.hi) inSet = true;
    if (m.kind === 'class' && CLASSES[m.name]!(c)) inSet = true;
  }
  return b.negate ? !inSet : inSet;
}

/** Printable ASCII, tab, and two characters outside ASCII. */
const PROBES = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), '\t', 'é', '✉'];

describe('POSIX bracket expressions (property)', () => {
  for (const extended of [true, false]) {
    it(`match what the oracle says, ${extended ? 'ERE' : 'BRE'}`, () => {
      fc.assert(
        fc.property(bracket, (b) => {
          const src = write(b);
          // A body that is only `^` cannot be written un-negated (`[^]` opens a negated bracket).
          fc.pre(b.negate || !src.startsWith('[^'));
          const re = compilePosixRegex(`^${src}$`, { extended }).regex;
          for (const c of PROBES) assert.equal(re.test(c), oracle(b, c), `${src} against ${JSON.stringify(c)}`);
        }),
        { numRuns: 400 },
      );
    });
  }
});
