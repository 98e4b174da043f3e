import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeHealth, type HealthInput } from '../../src/daemon/health.js';

const NOW = Date.UTC(2026, 11, 6, 14, 0, 0);

function input(overrides: Partial<HealthInput> = {}): HealthInput {
  return {
    now: NOW,
    listening: true,
    accountReady: true,
    accountError: undefined,
    sync: { lastAttemptAt: NOW - 1_000, lastSuccessAt: NOW - 1_000, lastError: undefined },
    syncIntervalMs: 300_000,
    eventStream: 'attached',
    managedCertificates: 3,
    pendingLbSignals: 0,
    deliveryFailures: 0,
    ...overrides,
  };
}

describe('readiness judgement (/ready; told by /health)', () => {
  it('is ready with an account, a recent sync and every LB serving, with the details either way', () => {
    assert.deepEqual(judgeHealth(input()), {
      healthy: true,
      problems: [],
      details: { accountReady: true, eventStream: 'attached', lastSyncAt: '2026-12-06T13:59:59.000Z', managedCertificates: 3, pendingLbSignals: 0, deliveryFailures: 0 },
    });
  });

  it('names the account, Marathon and delivery problems', () => {
    const cases: Array<[Partial<HealthInput>, string]> = [
      [{ accountReady: false }, 'ACME account not registered yet'],
      [{ accountReady: false, accountError: 'ECONNRESET' }, 'ACME account not registered: ECONNRESET'],
      [{ sync: { lastAttemptAt: undefined, lastSuccessAt: undefined, lastError: undefined } }, 'no sync with Marathon has completed yet'],
      [{ sync: { lastAttemptAt: NOW, lastSuccessAt: undefined, lastError: 'ECONNREFUSED' } }, 'last sync with Marathon failed: ECONNREFUSED'],
      [{ sync: { lastAttemptAt: NOW, lastSuccessAt: NOW - 60_000, lastError: '500' } }, 'last sync with Marathon failed: 500'],
      [{ sync: { lastAttemptAt: NOW - 901_000, lastSuccessAt: NOW - 901_000, lastError: undefined } }, 'no successful sync with Marathon for 901 s'],
      [{ deliveryFailures: 1 }, '1 delivery failure: a marathon-lb does not serve the stored certificate (see /status)'],
      [{ deliveryFailures: 4 }, '4 delivery failures: a marathon-lb does not serve the stored certificate (see /status)'],
    ];
    for (const [overrides, problem] of cases) {
      const report = judgeHealth(input(overrides));
      assert.equal(report.healthy, false, problem);
      assert.deepEqual(report.problems, [problem]);
    }
  });

  it('waits three sync intervals (at least a minute) before an old sync counts, and never with periodic syncs off', () => {
    const old = (ms: number, syncIntervalMs = 300_000) => judgeHealth(input({ syncIntervalMs, sync: { lastAttemptAt: NOW - ms, lastSuccessAt: NOW - ms, lastError: undefined } })).healthy;
    assert.equal(old(900_000), true);
    assert.equal(old(900_001), false);
    assert.equal(old(60_000, 1_000), true, 'at least a minute');
    assert.equal(old(60_001, 1_000), false);
    assert.equal(old(86_400_000, 0), true, '--sync-interval 0: the event stream alone');
  });

  it('only reports LBs owed a reload: one is owed for a few seconds after every issuance', () => {
    const report = judgeHealth(input({ pendingLbSignals: 2 }));
    assert.equal(report.healthy, true);
    assert.equal(report.details['pendingLbSignals'], 2);
  });
});
