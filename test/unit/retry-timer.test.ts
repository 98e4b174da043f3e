import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryTimer } from '../../src/sync/retry-timer.js';
import { ManualClock } from '../support/manual-clock.js';

describe('retry timer', () => {
  it('wakes once at the retry time (plus the margin), not before', async () => {
    const clock = new ManualClock(1_000);
    let due = 0;
    const timer = new RetryTimer({ clock, onDue: () => { due++; }, marginMs: 100 });
    timer.schedule(61_000);
    await clock.advance(60_000);
    assert.equal(due, 0, 'the margin has not passed yet');
    await clock.advance(100);
    assert.equal(due, 1);
    assert.equal(timer.nextAt, undefined);
    await clock.advance(600_000);
    assert.equal(due, 1, 'one wake-up per schedule');
  });

  it('a new time replaces the old one, an earlier one included', async () => {
    const clock = new ManualClock(0);
    const woke: number[] = [];
    const timer = new RetryTimer({ clock, onDue: () => { woke.push(clock.now()); }, marginMs: 0 });
    timer.schedule(600_000);
    timer.schedule(60_000);
    await clock.advance(60_000);
    assert.deepEqual(woke, [60_000]);
    await clock.advance(600_000);
    assert.deepEqual(woke, [60_000], 'the replaced wake-up never fires');
  });

  it('the same time again keeps the one sleep; undefined cancels; a past time wakes at once', async () => {
    const clock = new ManualClock(10_000);
    let due = 0;
    const timer = new RetryTimer({ clock, onDue: () => { due++; }, marginMs: 0 });
    timer.schedule(20_000);
    timer.schedule(20_000);
    assert.equal(clock.pending, 1);
    timer.schedule(undefined);
    await clock.advance(20_000);
    assert.equal(due, 0);
    timer.schedule(5_000);
    await clock.advance(0);
    assert.equal(due, 1);
  });

  it('stop cancels the pending wake-up and ignores later schedules', async () => {
    const clock = new ManualClock(0);
    let due = 0;
    const timer = new RetryTimer({ clock, onDue: () => { due++; }, marginMs: 0 });
    timer.schedule(1_000);
    await timer.stop();
    timer.schedule(2_000);
    await clock.advance(10_000);
    assert.equal(due, 0);
    assert.equal(clock.pending, 0);
  });
});
