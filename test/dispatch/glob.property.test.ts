/**
 * Property: `like` patterns (fnmatch(3) with flags 0) against a small backtracking oracle. Patterns are built
 * from literals (an accented letter and an astral code point among them), escapes, `*`, `?` and bracket
 * expressions (`[abc]`, ranges, `[!...]`); subjects are random or made from the pattern itself, so both
 * answers occur. `*` and `?` match any code point, `/` and a leading `.` included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileGlob } from '../../src/dispatch/glob.js';

type Token =
  | { t: 'lit'; c: string; text: string }
  | { t: 'star' }
  | { t: 'any' }
  | { t: 'set'; neg: boolean; items: readonly (string | readonly [string, string])[] };

const LETTERS = ['a', 'b', 'c', '.', '/', 'é', '😀'];

const token: fc.Arbitrary<Token> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...LETTERS).map((c) => ({ t: 'lit' as const, c, text: c })) },
  { weight: 1, arbitrary: fc.constantFrom('a', '*', '?', '[', '\\').map((c) => ({ t: 'lit' as const, c, text: `\\${c}` })) },
  { weight: 2, arbitrary: fc.constant({ t: 'star' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'any' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('set' as const),
      neg: fc.boolean(),
      items: fc.array(fc.oneof(fc.constantFrom('a', 'b', 'd', 'é', '.'), fc.constantFrom(['a', 'c'] as const, ['b', 'd'] as const, ['a', 'é'] as const)), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
  },
);

function text(tokens: readonly Token[]): string {
  return tokens
    .map((k) => {
      switch (k.t) {
        case 'lit':
          return k.text;
        case 'star':
          return '*';
        case 'any':
          return '?';
        case 'set':
          return `[${k.neg ? '!' : ''}${k.items.map((i) => (typeof i === 'string' ? i : `${i[0]}-${i[1]}`)).join('')}]`;
      }
    })
    .join('');
}

function inSet(k: Extract<Token, { t: 'set' }>, c: string): boolean {
  const cp = c.codePointAt(0)!;
  const hit = k.items.some((i) => (typeof i === 'string' ? i === c : cp >= i[0].codePointAt(0)! && cp <= i[1].codePointAt(0)!));
  return hit !== k.neg;
}

/** fnmatch by backtracking over code points, memoised: obviously right, and fast enough for short inputs. */
function oracle(tokens: readonly Token[], subject: string): boolean {
  const s = Array.from(subject);
  const memo = new Map<number, boolean>();
  const go = (ti: number, si: number): boolean => {
    const key = ti * 1000 + si;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (ti === tokens.length) r = si === s.length;
    else {
      const k = tokens[ti]!;
      if (k.t === 'star') r = go(ti + 1, si) || (si < s.length && go(ti, si + 1));
      else if (si === s.length) r = false;
      else if (k.t === 'any') r = go(ti + 1, si + 1);
      else if (k.t === 'lit') r = k.c === s[si] && go(ti + 1, si + 1);
      else r = inSet(k, s[si]!) && go(ti + 1, si + 1);
    }
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** A subject the pattern may well match: each token replaced by something it could match (or not quite). */
function instance(tokens: readonly Token[]): fc.Arbitrary<string> {
  const part = (k: Token): fc.Arbitrary<string> => {
    switch (k.t) {
      case 'lit':
        return fc.oneof({ weight: 5, arbitrary: fc.constant(k.c) }, { weight: 1, arbitrary: fc.constantFrom(...LETTERS) });
      case 'star':
        return fc.array(fc.constantFrom(...LETTERS, '*'), { maxLength: 3 }).map((a) => a.join(''));
      case 'any':
      case 'set':
        return fc.constantFrom(...LETTERS, 'd', '*');
    }
  };
  return fc.tuple(...tokens.map(part)).map((parts) => parts.join(''));
}

describe('like patterns against an fnmatch oracle', () => {
  it('match exactly the subjects fnmatch(3) would', () => {
    const arb = fc.array(token, { maxLength: 7 }).chain((tokens) =>
      fc.record({
        tokens: fc.constant(tokens),
        subject: fc.oneof(instance(tokens), fc.array(fc.constantFrom(...LETTERS, 'd', '*', '?', '['), { maxLength: 8 }).map((a) => a.join(''))),
      }),
    );
    fc.assert(
      fc.property(arb, ({ tokens, subject }) => {
        const pattern = text(tokens);
        assert.equal(compileGlob(pattern)(subject), oracle(tokens, subject), `like ${JSON.stringify(pattern)} on ${JSON.stringify(subject)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('the shapes with a fast path (abc, abc*, *abc, *abc*, a*b) agree too, overlaps included', () => {
    // Two letters and short subjects, so that prefix and suffix overlap (`ab*ba` on `aba`).
    const lit = fc.constantFrom('a', 'b').map((c) => ({ t: 'lit' as const, c, text: c }));
    const tokens = fc.array(fc.oneof(lit, lit, fc.constant({ t: 'star' as const })), { maxLength: 6 });
    const subject = fc.array(fc.constantFrom('a', 'b'), { maxLength: 5 }).map((a) => a.join(''));
    fc.assert(
      fc.property(tokens, subject, (t, subj) => {
        const pattern = text(t);
        assert.equal(compileGlob(pattern)(subj), oracle(t, subj), `like ${JSON.stringify(pattern)} on ${JSON.stringify(subj)}`);
      }),
      { numRuns: 2000 },
    );
  });
});
