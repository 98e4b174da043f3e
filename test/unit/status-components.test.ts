import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountState, lbState, marathonState } from '../../src/status/components.js';

const T = Date.UTC(2026, 11, 2, 10, 0, 0, 123);

describe('status cards', () => {
  it('judges Marathon by the last sync, then by the event stream', () => {
    assert.deepEqual(marathonState({ lastAttemptAt: undefined, lastSuccessAt: undefined, lastError: undefined }, 'connecting'), { level: 'warn', summary: 'no sync with Marathon has completed yet' });
    assert.deepEqual(marathonState({ lastAttemptAt: T, lastSuccessAt: undefined, lastError: 'refused' }, 'attached'), { level: 'bad', summary: 'last sync failed: refused' });
    assert.deepEqual(marathonState({ lastAttemptAt: T + 1, lastSuccessAt: T, lastError: 'refused' }, 'attached').level, 'bad', 'a failure after the last success counts');
    assert.deepEqual(marathonState({ lastAttemptAt: T, lastSuccessAt: T, lastError: undefined }, 'attached'), { level: 'ok', summary: 'last sync succeeded at 2026-12-02T10:00:00Z' });
    assert.deepEqual(marathonState({ lastAttemptAt: T, lastSuccessAt: T, lastError: undefined }, 'disconnected'), { level: 'warn', summary: 'last sync succeeded at 2026-12-02T10:00:00Z; event stream not attached' });
  });

  it('judges the account by registration', () => {
    assert.deepEqual(accountState(true, 'old error'), { level: 'ok', summary: 'registered' });
    assert.deepEqual(accountState(false, undefined), { level: 'warn', summary: 'registering' });
    assert.deepEqual(accountState(false, 'CA down'), { level: 'bad', summary: 'not registered: CA down' });
  });

  it('calls a load balancer bad while a reload is owed, and green only once it was reached', () => {
    assert.deepEqual(lbState('http://lb', false, undefined), { url: 'http://lb', level: 'warn', summary: 'not reached yet: no reload was needed and no certificate was seen served there' });
    assert.deepEqual(lbState('http://lb', false, { ok: true, at: T, error: undefined }), { url: 'http://lb', level: 'ok', summary: 'last reload accepted at 2026-12-02T10:00:00Z' });
    assert.deepEqual(lbState('http://lb', false, { ok: false, at: T, error: '500' }), { url: 'http://lb', level: 'warn', summary: 'last reload refused at 2026-12-02T10:00:00Z: 500' });
    assert.deepEqual(lbState('http://lb', true, { ok: false, at: T, error: '500' }), { url: 'http://lb', level: 'bad', summary: 'reload owed, retrying: 500' });
    assert.deepEqual(lbState('http://lb', true, undefined), { url: 'http://lb', level: 'bad', summary: 'reload owed, retrying' });
  });

  it('takes the delivery summary\'s judgement, which knows the signal too, but never calls an LB never reached green', () => {
    const summary = (level: 'ok' | 'warn' | 'bad', served: number, text: string) => ({ level, summary: text, served });
    assert.deepEqual(lbState('http://lb', false, undefined, summary('ok', 12, 'all 12 served')), { url: 'http://lb', level: 'ok', summary: 'all 12 served' });
    assert.deepEqual(lbState('http://lb', true, undefined, summary('warn', 3, 'reload signalled; waiting for it to show; 3 of 4 served, 1 stale')), {
      url: 'http://lb',
      level: 'warn',
      summary: 'reload signalled; waiting for it to show; 3 of 4 served, 1 stale',
    });
    assert.deepEqual(lbState('http://lb', false, undefined, summary('bad', 0, '0 of 4 served, 4 stale, 4 failing')).level, 'bad');
    assert.deepEqual(lbState('http://lb', false, undefined, summary('ok', 0, 'no certificates to check')), {
      url: 'http://lb',
      level: 'warn',
      summary: 'not reached yet: no reload was needed and no certificate was seen served there; no certificates to check',
    });
    assert.equal(lbState('http://lb', false, { ok: true, at: T, error: undefined }, summary('ok', 0, 'delivery check off')).level, 'ok', 'an accepted reload is reaching it');
  });
});
