import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NonceStore } from '../../src/acme/protocol/nonce-store.js';

describe('NonceStore', () => {
  it('hands out the newest nonce first, each one once', () => {
    const store = new NonceStore();
    for (const nonce of ['a', 'b', 'c']) assert.equal(store.put(nonce, 0), true);
    assert.deepEqual([store.take(1), store.take(1), store.take(1), store.take(1)], ['c', 'b', 'a', undefined]);
    assert.equal(store.size, 0);
  });

  it('never hands out a nonce twice, even when the CA repeats it', () => {
    const store = new NonceStore();
    assert.equal(store.put('n1', 0), true);
    assert.equal(store.put('n1', 1), false, 'already held');
    assert.equal(store.size, 1);
    assert.equal(store.take(2), 'n1');
    assert.equal(store.put('n1', 3), false, 'already handed out');
    assert.equal(store.take(4), undefined);
  });

  it('forgets handed-out nonces after a while, so memory stays bounded', () => {
    const store = new NonceStore();
    store.put('first', 0);
    store.take(0);
    for (let i = 0; i < 128; i += 1) {
      store.put(`n${i}`, 0);
      store.take(0);
    }
    assert.equal(store.put('first', 0), true);
  });

  it('keeps at most 32 nonces, dropping the oldest', () => {
    const store = new NonceStore();
    for (let i = 0; i < 33; i += 1) store.put(`n${i}`, i);
    assert.equal(store.size, 32);
    const taken: (string | undefined)[] = [];
    for (let i = 0; i < 33; i += 1) taken.push(store.take(40));
    assert.equal(taken[0], 'n32');
    assert.equal(taken[31], 'n1');
    assert.equal(taken[32], undefined, 'n0 was dropped');
  });

  it('drops nonces older than 30 s', () => {
    const store = new NonceStore();
    store.put('edge', 0);
    assert.equal(store.take(30_000), 'edge', 'exactly 30 s old is still good');
    store.put('old', 0);
    store.put('fresh', 20_000);
    assert.equal(store.take(30_001), 'fresh');
    assert.equal(store.size, 0, "'old' went on the way");
    store.put('stale', 0);
    assert.equal(store.take(31_000), undefined);
    assert.equal(store.size, 0);
  });

  it('honours its capacity and maximum age options', () => {
    const store = new NonceStore({ capacity: 2, maxAgeMs: 1_000 });
    for (const nonce of ['a', 'b', 'c']) store.put(nonce, 0);
    assert.equal(store.size, 2);
    assert.equal(store.take(1_001), undefined);
  });

  it('ignores values that are not nonces (RFC 8555 §6.5.1: base64url only)', () => {
    const store = new NonceStore();
    for (const value of ['', 'a b', 'abc=', 'a+b/c', 'nonce\r\nX-Injected: 1']) assert.equal(store.put(value, 0), false, JSON.stringify(value));
    assert.equal(store.size, 0);
    assert.equal(store.put('oFvnlFP1wIhRlYS2jTaXbA-_', 0), true);
  });
});
