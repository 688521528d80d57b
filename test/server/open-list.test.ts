import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpenList } from '../../src/server/open-list.js';

describe('OpenList', () => {
  it('keeps nodes oldest first, removes from anywhere, and a removed node holds no link', () => {
    const l = new OpenList<string>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => l.add(x));
    assert.deepEqual(
      l.nodes().map((n) => n.item),
      ['a', 'b', 'c', 'd'],
    );
    l.remove(b!);
    l.remove(d!);
    l.remove(a!);
    assert.deepEqual(
      l.nodes().map((n) => n.item),
      ['c'],
    );
    assert.equal(l.size, 1);
    for (const n of [a!, b!, d!]) assert.deepEqual([n.prev, n.next, n.listed], [null, null, false]);
    l.remove(b!);
    assert.equal(l.size, 1, 'removing twice is harmless');
    l.add('e');
    l.remove(c!);
    assert.deepEqual(
      l.nodes().map((n) => n.item),
      ['e'],
    );
    assert.deepEqual([c!.prev, c!.next], [null, null]);
  });

  it('starts nodes unseated', () => {
    const n = new OpenList<number>().add(1);
    assert.deepEqual([n.seated, n.server, n.address], [false, '', '']);
  });
});
