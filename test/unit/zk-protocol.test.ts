import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JuteError, JuteReader, JuteWriter } from '../../src/zk/jute.js';
import { connectFrame, ERR, OP, readConnectResponse, readMultiResponse, writeMultiOp } from '../../src/zk/protocol.js';

/** The payload of a frame (without its 4-byte length). */
const payload = (w: JuteWriter): Buffer => w.frame().subarray(4);

describe('jute encoding', () => {
  it('writes big-endian fields behind a length, and reads them back', () => {
    const frame = new JuteWriter().int(-2).long(0x0102030405060708n).bool(true).string('é').buffer(undefined).stringVector(['a', 'bc']).frame();
    assert.equal(frame.readInt32BE(0), frame.length - 4);
    assert.equal(frame.subarray(4, 16).toString('hex'), 'fffffffe0102030405060708');
    const r = new JuteReader(frame.subarray(4));
    assert.deepEqual([r.int(), r.long(), r.bool(), r.string(), r.buffer(), r.stringVector(), r.remaining], [-2, 0x0102030405060708n, true, 'é', undefined, ['a', 'bc'], 0]);
  });

  it('refuses an answer shorter than its fields say', () => {
    const r = new JuteReader(Buffer.from('0000000a6162', 'hex'));
    assert.throws(() => r.string(), (err: unknown) => err instanceof JuteError && /ended early: 10 more bytes expected at byte 4 of 6/.test(err.message));
  });
});

describe('ZooKeeper records', () => {
  it('sends the connect request as the 3.x clients do', () => {
    const frame = connectFrame({ lastZxidSeen: 5n, timeoutMs: 6000, sessionId: 0x1234n, password: Buffer.alloc(16, 7) });
    // protocol version, last zxid, timeout, session id, password (length + bytes), read-only flag.
    assert.equal(frame.subarray(4).toString('hex'), `00000000000000000000000500001770000000000000123400000010${'07'.repeat(16)}00`);
    const response = new JuteWriter().int(0).int(4000).long(0x99n).buffer(Buffer.alloc(16, 1)).bool(false);
    assert.deepEqual(readConnectResponse(payload(response)), { timeoutMs: 4000, sessionId: 0x99n, password: Buffer.alloc(16, 1) });
  });

  it('encodes a multi with a version check before a create, and reads each result', () => {
    const w = new JuteWriter();
    writeMultiOp(w, { op: 'check', path: '/ma/leader/n_1', version: 0 });
    writeMultiOp(w, { op: 'create', path: '/ma/intents/a', data: Buffer.from('x'), acl: [{ perms: 31, scheme: 'world', id: 'anyone' }], mode: 0 });
    const r = new JuteReader(payload(w));
    assert.deepEqual([r.int(), r.bool(), r.int(), r.string(), r.int()], [OP.check, false, -1, '/ma/leader/n_1', 0]);
    assert.deepEqual([r.int(), r.bool(), r.int(), r.string(), r.buffer()?.toString()], [OP.create, false, -1, '/ma/intents/a', 'x']);

    const ok = new JuteWriter().int(OP.check).bool(false).int(0).int(OP.create).bool(false).int(0).string('/ma/intents/a').int(-1).bool(true).int(-1);
    assert.deepEqual(readMultiResponse(new JuteReader(payload(ok))), { results: [{ op: 'check' }, { op: 'create', path: '/ma/intents/a' }] });
  });

  it('reports the operation that made a multi fail, not the ones rolled back with it', () => {
    const failed = new JuteWriter()
      .int(OP.error).bool(false).int(ERR.noNode).int(ERR.noNode)
      .int(OP.error).bool(false).int(ERR.runtimeInconsistency).int(ERR.runtimeInconsistency)
      .int(-1).bool(true).int(-1);
    assert.deepEqual(readMultiResponse(new JuteReader(payload(failed))), { failedIndex: 0, code: ERR.noNode });
    const second = new JuteWriter()
      .int(OP.error).bool(false).int(ERR.ok).int(ERR.ok)
      .int(OP.error).bool(false).int(ERR.nodeExists).int(ERR.nodeExists)
      .int(-1).bool(true).int(-1);
    assert.deepEqual(readMultiResponse(new JuteReader(payload(second))), { failedIndex: 1, code: ERR.nodeExists });
  });
});
