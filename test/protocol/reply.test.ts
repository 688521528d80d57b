import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as R from '../../src/protocol/reply.js';

describe('reply formatter', () => {
  it('always puts a space after the status word', () => {
    assert.equal(R.ok(''), 'OK ');
    assert.equal(R.NOTFOUND, 'NOTFOUND ');
    assert.equal(R.notFound(), 'NOTFOUND ');
    assert.equal(R.noMore(), 'NOMORE ');
    assert.equal(R.temp('db down'), 'TEMP db down');
    assert.equal(R.timeout('slow'), 'TIMEOUT slow');
    assert.equal(R.perm('bad'), 'PERM bad');
  });

  it('keeps replies on one line', () => {
    assert.equal(R.ok('a\nb\r\nc'), 'OK a b  c');
  });

  it('parses template output into a reply, normalising the status word', () => {
    assert.equal(R.parseReply('OK smith'), 'OK smith');
    assert.equal(R.parseReply('ok smith'), 'OK smith');
    assert.equal(R.parseReply('NOTFOUND'), 'NOTFOUND ');
    assert.equal(R.parseReply('  temp  db down'), 'TEMP  db down');
    assert.equal(R.parseReply('plain value'), 'OK plain value');
  });

  it('tells the status of a reply', () => {
    assert.equal(R.statusOf(R.ok('x y')), 'OK');
    assert.equal(R.statusOf(R.NOTFOUND), 'NOTFOUND');
    assert.equal(R.statusOf(R.timeout('t')), 'TIMEOUT');
  });

  it('relays an upstream reply unchanged, whatever its status', () => {
    for (const r of ['OK a  b\u0000c é', 'NOTFOUND ', 'NOMORE x', 'TEMP busy', 'TIMEOUT slow', 'PERM no such map', 'OK ']) {
      assert.equal(R.relay(r), r);
    }
    assert.equal(R.relay('NOTFOUND'), 'NOTFOUND ');
    assert.equal(R.relay('OK'), 'OK ');
    assert.equal(R.relay('PERM a\nb'), 'PERM a b');
  });

  it('refuses to relay what is not a reply', () => {
    for (const r of ['', ' OK x', 'ok x', 'OKAY x', 'FOUND x', 'OK\tx', 'NOTFOUND\n']) assert.equal(R.relay(r), undefined, JSON.stringify(r));
  });
});
