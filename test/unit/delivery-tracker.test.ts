import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeliveryTracker } from '../../src/delivery/tracker.js';
import type { DeliveryStatus } from '../../src/delivery/types.js';
import type { StoredLeaf, Verdict } from '../../src/delivery/verdict.js';

const LB = 'http://lb1:9090';
const GRACE = 300_000;
const leaf = (fp: string): StoredLeaf => ({ fingerprint256: fp, notBefore: 0, names: ['a.test'] });
const v = (status: DeliveryStatus): Verdict => ({ status, detail: status === 'served' ? undefined : `${status} seen` });

function tracker(): DeliveryTracker {
  const t = new DeliveryTracker([LB, 'http://lb2:9090'], { graceMs: GRACE, retryBaseMs: 500, retryCapMs: 15_000 });
  t.reconcile(new Map([['a.test', leaf('aa')]]));
  return t;
}

const record = (t: DeliveryTracker, lb = LB, name = 'a.test') => t.records().find((r) => r.lb === lb && r.name === name);

describe('DeliveryTracker', () => {
  it('starts every stored name unchecked on every LB, and drops names no longer stored', () => {
    const t = tracker();
    assert.deepEqual(t.records().map((r) => [r.lb, r.name, r.status, r.failing]), [
      [LB, 'a.test', 'unchecked', false],
      ['http://lb2:9090', 'a.test', 'unchecked', false],
    ]);
    t.reconcile(new Map([['b.test', leaf('bb')]]));
    assert.deepEqual(t.records().map((r) => r.name), ['b.test', 'b.test']);
  });

  it('retries a wrong answer after a signal with doubling pauses, and fails it only after the grace', () => {
    const t = tracker();
    t.signalled(LB, ['a.test'], 1_000);
    assert.equal(t.nextDueAt(LB, ['a.test']), 1_500);
    const dues: number[] = [];
    let now = 1_500;
    while (now - 1_000 < GRACE) {
      assert.equal(t.observe(LB, 'a.test', v('stale'), now), undefined, `no failure at ${now}`);
      assert.equal(record(t)?.failing, false);
      const due = t.nextDueAt(LB, ['a.test']);
      assert.ok(due !== undefined);
      dues.push(due - now);
      now = due;
    }
    assert.deepEqual(dues.slice(0, 7), [500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
    assert.equal(t.observe(LB, 'a.test', v('stale'), now), 'failed');
    assert.equal(record(t)?.failing, true);
    assert.equal(t.nextDueAt(LB, ['a.test']), undefined, 'a failure is left to the periodic round');
    assert.equal(t.observe(LB, 'a.test', v('other'), now + 10), undefined, 'failed once, not again');
  });

  it('recovers on a served answer, keeping lastServedAt, and an unreachable answer changes no failure', () => {
    const t = tracker();
    t.signalled(LB, ['a.test'], 0);
    t.observe(LB, 'a.test', v('other'), GRACE);
    assert.equal(record(t)?.failing, true);
    assert.equal(t.observe(LB, 'a.test', v('unreachable'), GRACE + 1), undefined);
    assert.equal(record(t)?.failing, true);
    assert.equal(record(t)?.status, 'unreachable');
    assert.equal(t.observe(LB, 'a.test', v('served'), GRACE + 2), 'recovered');
    assert.deepEqual(record(t), { lb: LB, name: 'a.test', status: 'served', failing: false, checkedAt: GRACE + 2, lastServedAt: GRACE + 2, detail: undefined });
    assert.equal(record(t, 'http://lb2:9090')?.status, 'unchecked', 'LBs are tracked apart');
  });

  it('starts the grace at the first wrong answer when no signal went out', () => {
    const t = tracker();
    assert.equal(t.observe(LB, 'a.test', v('stale'), 10_000), undefined);
    assert.deepEqual(t.toResignal(LB, 10_000), ['a.test'], 'no signal is working on it: one should go out');
    assert.equal(t.observe(LB, 'a.test', v('stale'), 10_000 + GRACE), 'failed');
  });

  it('does not ask for another signal while a recent one is still being waited on', () => {
    const t = tracker();
    t.signalled(LB, ['a.test'], 0);
    t.observe(LB, 'a.test', v('stale'), 1_000);
    assert.deepEqual(t.toResignal(LB, 1_000), []);
    assert.deepEqual(t.toResignal(LB, GRACE), ['a.test']);
  });

  it('a new leaf starts over as unchecked, still failing until it is seen served', () => {
    const t = tracker();
    t.signalled(LB, ['a.test'], 0);
    t.observe(LB, 'a.test', v('served'), 100);
    t.observe(LB, 'a.test', v('stale'), 200);
    t.observe(LB, 'a.test', v('stale'), 200 + GRACE);
    assert.equal(record(t)?.failing, true);
    t.changed('a.test', leaf('cc'));
    assert.equal(record(t)?.status, 'unchecked');
    assert.equal(record(t)?.failing, true);
    assert.equal(record(t)?.lastServedAt, 100);
    assert.deepEqual(t.undelivered(LB, ['a.test']), ['a.test']);
    t.changed('a.test', undefined);
    assert.equal(record(t), undefined, 'a retired name is forgotten');
  });

  it('treats a served name as still to deliver after its leaf changed, until seen served again', () => {
    const t = tracker();
    t.observe(LB, 'a.test', v('served'), 0);
    assert.deepEqual(t.undelivered(LB, ['a.test']), []);
    t.reconcile(new Map([['a.test', leaf('dd')]]));
    assert.deepEqual(t.undelivered(LB, ['a.test']), ['a.test']);
  });

  it('fails a pair exactly when a wrong answer comes at least the grace after it started (property)', () => {
    const answer = fc.constantFrom<DeliveryStatus>('served', 'stale', 'other', 'unreachable');
    fc.assert(
      fc.property(fc.array(fc.tuple(answer, fc.integer({ min: 0, max: 200_000 })), { maxLength: 30 }), (steps) => {
        const t = tracker();
        t.signalled(LB, ['a.test'], 0);
        let now = 0;
        let graceFrom: number | undefined = 0;
        let failing = false;
        for (const [status, gap] of steps) {
          now += gap;
          const transition = t.observe(LB, 'a.test', v(status), now);
          let expected: string | undefined;
          if (status === 'served') {
            expected = failing ? 'recovered' : undefined;
            failing = false;
            graceFrom = undefined;
          } else if (status !== 'unreachable') {
            graceFrom ??= now;
            if (!failing && now - graceFrom >= GRACE) {
              failing = true;
              expected = 'failed';
            }
          }
          assert.equal(transition, expected);
          assert.equal(record(t)?.failing, failing);
          assert.equal(record(t)?.status, status);
        }
      }),
    );
  });
});
