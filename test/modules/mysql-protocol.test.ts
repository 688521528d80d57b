/**
 * The mysql module's protocol pieces without a server: packet framing (the 16 MB split), the login exchange
 * (greeting, AuthSwitchRequest, caching_sha2_password's fast and full paths) and the password scrambles.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { framePacket, MAX_PAYLOAD, PacketDecoder, readError, MysqlServerError } from '../../modules/mysql/packets.js';
import { CAP, cachingSha2Token, Login, nativePasswordToken, type LoginStep } from '../../modules/mysql/handshake.js';
import { executeFrame } from '../../modules/mysql/commands.js';
import { ResultReader, type ColumnCache } from '../../modules/mysql/results.js';

/** Every payload the decoder hands on for `bytes`, fed in pieces of `piece` bytes. */
function decode(bytes: Buffer, piece: number): Buffer[] {
  const d = new PacketDecoder();
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += piece) d.push(bytes.subarray(at, at + piece), (b, s, e) => out.push(Buffer.from(b.subarray(s, e))));
  return out;
}

const SCRAMBLE = Buffer.from(Array.from({ length: 20 }, (_, i) => i + 1));

/** A HandshakeV10 greeting with these capabilities and plugin, thread id 77, scramble 1..20. */
function greeting(capabilities: number, plugin: string): Buffer {
  const parts = [
    Buffer.from([10]),
    Buffer.from('10.11.99-test\0'),
    Buffer.from([77, 0, 0, 0]),
    SCRAMBLE.subarray(0, 8),
    Buffer.from([0]),
    Buffer.from([capabilities & 0xff, (capabilities >> 8) & 0xff, 45, 2, 0, (capabilities >> 16) & 0xff, (capabilities >>> 24) & 0xff, 21]),
    Buffer.alloc(10),
    SCRAMBLE.subarray(8),
    Buffer.from([0]),
    Buffer.from(plugin + '\0'),
  ];
  return Buffer.concat(parts);
}

const SERVER_CAPS = CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.PLUGIN_AUTH_LENENC_CLIENT_DATA | CAP.CONNECT_WITH_DB | CAP.DEPRECATE_EOF;

function feed(login: Login, payload: Buffer, seq: number): LoginStep {
  const framed = framePacket(payload, seq);
  return login.onPacket(framed, 4, framed.length, seq);
}

/** The auth token inside a HandshakeResponse41 for user `u` (after the 32 fixed bytes and the user name). */
function tokenOf(response: Buffer, user: string): Buffer {
  const at = 32 + Buffer.byteLength(user) + 1;
  return response.subarray(at + 1, at + 1 + response[at]!);
}

const lenencText = (t: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(t)]), Buffer.from(t)]);

/** A ColumnDefinition41 packet: a column `name` of `type` (charset utf8mb4, signed, no decimals). */
function columnDef(name: string, type: number): Buffer {
  const fixed = Buffer.alloc(13);
  fixed[0] = 0x0c;
  fixed.writeUInt16LE(45, 1);
  fixed[7] = type;
  return Buffer.concat([...['def', 'test', 't', 't', name, name].map(lenencText), fixed]);
}

/** A binary row of two columns: a LONG and a VAR_STRING (or NULL when `text` is null). */
function binaryRow(n: number, text: string | null): Buffer {
  const int = Buffer.alloc(4);
  int.writeInt32LE(n);
  // NULL bitmap: two bits of offset, then one bit per column.
  return Buffer.concat([Buffer.from([0x00, text === null ? 0b1000 : 0]), int, text === null ? Buffer.alloc(0) : lenencText(text)]);
}

/** Feed packets to a reader; returns the outcome after the packet that completed the reply. */
function readReply(deprecateEof: boolean, packets: Buffer[]): { err: Error | null; row: unknown; used: number } {
  const reader = new ResultReader();
  reader.deprecateEof = deprecateEof;
  const cache: ColumnCache = [];
  for (let i = 0; i < packets.length; i++) {
    if (reader.push(cache, packets[i]!, 0, packets[i]!.length)) return { ...reader.take(), used: i + 1 };
  }
  throw new Error('the reply did not end');
}

describe('mysql protocol', () => {
  it('frames a payload of 16 MB or more as several packets, and the decoder joins them, however the bytes arrive', () => {
    for (const size of [0, 1, MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 5, 2 * MAX_PAYLOAD]) {
      const payload = Buffer.alloc(size, 0x61);
      if (size > 0) payload[size - 1] = 0x7a;
      const framed = framePacket(payload, 3);
      const packets = Math.floor(size / MAX_PAYLOAD) + 1;
      assert.equal(framed.length, size + 4 * packets, `size ${size}: ${packets} headers`);
      const small = Buffer.from('next');
      const stream = Buffer.concat([framed, framePacket(small, 0)]);
      const got = decode(stream, size > 1000 ? 1_000_003 : 1);
      assert.equal(got.length, 2, `size ${size}: the payload and the next packet`);
      assert.ok(got[0]!.equals(payload), `size ${size}: the payload comes back whole`);
      assert.equal(got[1]!.toString(), 'next');
    }
  });

  it('encodes an execute with text as VAR_STRING and bytes as BLOB, lengths length-encoded', () => {
    const long = 'x'.repeat(300);
    const frame = executeFrame(9, ['ké', Buffer.from([0xff]), long]);
    const payload = frame.subarray(4);
    assert.equal(frame.readUIntLE(0, 3), payload.length);
    assert.equal(payload[0], 0x17);
    assert.equal(payload.readUInt32LE(1), 9);
    // flags, iteration count 1, NULL bitmap, new-params-bound, then the types.
    assert.deepEqual([...payload.subarray(5, 17)], [0, 1, 0, 0, 0, 0, 1, 253, 0, 252, 0, 253]);
    assert.deepEqual([...payload.subarray(18, 22)], [3, 0x6b, 0xc3, 0xa9]);
    assert.deepEqual([...payload.subarray(22, 24)], [1, 0xff]);
    assert.deepEqual([...payload.subarray(24, 27)], [0xfc, 300 & 0xff, 300 >> 8]);
    assert.equal(payload.length, 27 + 300);
  });

  it("reads an ERR packet's number, SQLSTATE and text", () => {
    const err = Buffer.concat([Buffer.from([0xff, 0x14, 0x04]), Buffer.from('#42S02'), Buffer.from("Table 'x' doesn't exist")]);
    const e = readError(err, 0, err.length);
    assert.ok(e instanceof MysqlServerError);
    assert.equal(e.errno, 1044);
    assert.equal(e.sqlState, '42S02');
    assert.match(e.message, /^Table 'x' doesn't exist \(errno 1044, SQLSTATE 42S02\)$/);
  });

  it('scrambles passwords as mysql_native_password and caching_sha2_password do', () => {
    // Expected tokens computed once with mysql2's auth_41.calculateToken (native) and with the documented
    // SHA256(p) XOR SHA256(SHA256(SHA256(p)) + scramble) in plain node:crypto (caching_sha2), scramble 1..20.
    assert.equal(nativePasswordToken('s3cret-pässwörd', SCRAMBLE).toString('hex'), 'ea759877cb0d8f4023c784d826ec94821363ae52');
    assert.equal(cachingSha2Token('s3cret-pässwörd', SCRAMBLE).toString('hex'), 'e333fa3c5f0422a5e999dab618a6be97f8cd1ce1b9c2e6c0984281a188153a13');
    assert.equal(nativePasswordToken('', SCRAMBLE).length, 0, 'no password, no token');
    assert.equal(cachingSha2Token('', SCRAMBLE).length, 0);
  });

  it('logs in with caching_sha2_password by the fast path, and takes an AuthSwitchRequest to mysql_native_password', () => {
    const s = { user: 'smap', password: 'pw', database: 'mail', tls: false, socket: false };
    const fast = new Login(s);
    const answer = feed(fast, greeting(SERVER_CAPS, 'caching_sha2_password'), 0);
    assert.equal(answer.kind, 'send');
    if (answer.kind !== 'send') return;
    assert.equal(answer.seq, 1);
    assert.equal(fast.threadId, 77);
    assert.equal(answer.payload.readUInt32LE(0) & CAP.CONNECT_WITH_DB, CAP.CONNECT_WITH_DB);
    assert.equal(answer.payload.readUInt32LE(0) & CAP.SSL, 0);
    assert.deepEqual(tokenOf(answer.payload, 'smap'), cachingSha2Token('pw', SCRAMBLE));
    assert.match(answer.payload.toString('latin1'), /mail\0caching_sha2_password\0$/);
    assert.equal(feed(fast, Buffer.from([0x01, 0x03]), 2).kind, 'wait', 'fast auth success: the OK follows');
    assert.equal(feed(fast, Buffer.from([0x00, 0, 0, 2, 0, 0, 0]), 3).kind, 'done');

    const switched = new Login(s);
    feed(switched, greeting(SERVER_CAPS, 'caching_sha2_password'), 0);
    const other = Buffer.from(Array.from({ length: 20 }, (_, i) => 100 + i));
    const step = feed(switched, Buffer.concat([Buffer.from([0xfe]), Buffer.from('mysql_native_password\0'), other, Buffer.from([0])]), 2);
    assert.deepEqual(step, { kind: 'send', payload: nativePasswordToken('pw', other), seq: 3 });
  });

  it('sends the password in full only over TLS or a unix socket, and says so over plain TCP', () => {
    const tcp = new Login({ user: 'u', password: 'pw', database: undefined, tls: false, socket: false });
    feed(tcp, greeting(SERVER_CAPS, 'caching_sha2_password'), 0);
    assert.throws(() => feed(tcp, Buffer.from([0x01, 0x04]), 2), /caching_sha2_password wants the full password.*TLS or a unix socket/);
    const unix = new Login({ user: 'u', password: 'pw', database: undefined, tls: false, socket: true });
    feed(unix, greeting(SERVER_CAPS, 'caching_sha2_password'), 0);
    assert.deepEqual(feed(unix, Buffer.from([0x01, 0x04]), 2), { kind: 'send', payload: Buffer.from('pw\0'), seq: 3 });
  });

  it('asks for TLS first when ssl-ca is set, and refuses a server without it', () => {
    const s = { user: 'u', password: '', database: undefined, tls: true, socket: false };
    const step = feed(new Login(s), greeting(SERVER_CAPS | CAP.SSL, 'mysql_native_password'), 0);
    assert.equal(step.kind, 'tls-then-send');
    if (step.kind !== 'tls-then-send') return;
    assert.equal(step.ssl.length, 32, 'the SSLRequest is the fixed part of the response');
    assert.equal(step.ssl.readUInt32LE(0) & CAP.SSL, CAP.SSL);
    assert.equal(step.ssl[8], 45, 'utf8mb4');
    assert.throws(() => feed(new Login(s), greeting(SERVER_CAPS, 'mysql_native_password'), 0), /does not offer TLS/);
  });

  it('fails the login with the server error, and on a plugin it does not speak', () => {
    const login = new Login({ user: 'u', password: 'pw', database: undefined, tls: false, socket: false });
    feed(login, greeting(SERVER_CAPS, 'mysql_native_password'), 0);
    const denied = Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from("#28000Access denied for user 'u'")]);
    assert.throws(() => feed(login, denied, 2), /Access denied for user 'u' \(errno 1045/);
    const other = new Login({ user: 'u', password: 'pw', database: undefined, tls: false, socket: false });
    feed(other, greeting(SERVER_CAPS, 'mysql_native_password'), 0);
    assert.throws(() => feed(other, Buffer.from('\xfeclient_ed25519\0abc', 'latin1'), 2), /plugin client_ed25519, which smapd does not speak/);
  });

  it('reads result sets with and without CLIENT_DEPRECATE_EOF, keeping the first row of the first set', () => {
    const cols = [Buffer.from([2]), columnDef('n', 3), columnDef('s', 253)];
    const rows = [binaryRow(-7, 'first'), binaryRow(8, 'second')];
    const eof = (status: number) => Buffer.from([0xfe, 0, 0, status & 0xff, status >> 8]);
    const okEnd = (status: number) => Buffer.from([0xfe, 0, 0, status & 0xff, status >> 8, 0, 0]);
    const old = readReply(false, [...cols, eof(2), ...rows, eof(2)]);
    assert.deepEqual(old, { err: null, row: { names: ['n', 's'], values: ['-7', 'first'] }, used: 7 });
    const lean = readReply(true, [...cols, ...rows, okEnd(2)]);
    assert.deepEqual(lean, { err: null, row: { names: ['n', 's'], values: ['-7', 'first'] }, used: 6 });
    // A CALL: a set that says more follow, an empty set, then the final OK.
    const more = 2 | 8;
    const call = readReply(true, [...cols, binaryRow(1, null), okEnd(more), ...cols, okEnd(more), Buffer.from([0x00, 0, 0, 2, 0, 0, 0])]);
    assert.deepEqual(call, { err: null, row: { names: ['n', 's'], values: ['1', null] }, used: 10 });
    const empty = readReply(true, [...cols, okEnd(2)]);
    assert.deepEqual(empty, { err: null, row: null, used: 4 });
  });

  it('ends a reply at an ERR, and says when a statement returned no result set', () => {
    const err = Buffer.concat([Buffer.from([0xff, 0x1e, 0x05]), Buffer.from('#HY000Query execution was interrupted')]);
    // A query killed after its columns were sent: the ERR comes where the rows would.
    const cut = readReply(true, [Buffer.from([1]), columnDef('v', 253), err]);
    assert.match(String(cut.err?.message), /Query execution was interrupted \(errno 1310/);
    const none = readReply(true, [Buffer.from([0x00, 0, 0, 2, 0, 0, 0])]);
    assert.match(String(none.err?.message), /no result set/);
  });
});
