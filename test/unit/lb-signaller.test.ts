/**
 * The per-LB signalling rules, with time under the test's control: health gating of LBs met for the
 * first time or after a failure, coalescing of bursts, confirmation by HAProxy's pids and resending
 * of signals whose reload never showed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthGate } from '../../src/lb/health-gate.js';
import type { HealthAnswer, MarathonLbApi, PidsAnswer } from '../../src/lb/lb-api.js';
import { LbSignaller } from '../../src/lb/marathon-lb.js';
import { SignalCycle } from '../../src/lb/signal-cycle.js';
import { silentLogger } from '../../src/log.js';
import { ManualClock } from '../support/manual-clock.js';

/** A marathon-lb whose answers the test sets; `reloads` says whether a signal starts a new HAProxy. */
class FakeLb {
  health: (now: number) => HealthAnswer = () => ({ kind: 'ok' });
  pidList: string[] | 'absent' = 'absent';
  reloads: (signalNumber: number) => boolean = () => true;
  failSignals = 0;
  readonly signals: number[] = [];
  private nextPid = 100;

  constructor(private readonly clock: ManualClock) {}

  signalReload(): Promise<void> {
    if (this.failSignals > 0) {
      this.failSignals--;
      return Promise.reject(new Error('http://lb/_mlb_signal/usr1: connect ECONNREFUSED'));
    }
    this.signals.push(this.clock.now());
    if (this.pidList !== 'absent' && this.reloads(this.signals.length)) this.pidList = [this.pidList[0] ?? '1', String(this.nextPid++)];
    return Promise.resolve();
  }

  healthAnswer(): Promise<HealthAnswer> {
    return Promise.resolve(this.health(this.clock.now()));
  }

  pids(): Promise<PidsAnswer> {
    return Promise.resolve(this.pidList === 'absent' ? { kind: 'absent' } : { kind: 'pids', pids: [...this.pidList] });
  }
}

function api(lb: FakeLb): MarathonLbApi {
  return { signalReload: () => lb.signalReload(), health: () => lb.healthAnswer(), pids: () => lb.pids() };
}

function signaller(clock: ManualClock, lbs: FakeLb[]): LbSignaller {
  const byUrl = new Map(lbs.map((lb, i) => [`http://lb${i}:9090`, lb]));
  return new LbSignaller({
    urls: [...byUrl.keys()],
    dispatcher: undefined as never,
    clock,
    logger: silentLogger(),
    backoff: { baseMs: 1_000, capMs: 8_000 },
    timeoutMs: 1_000,
    random: () => 1,
    api: (endpoint) => {
      const lb = byUrl.get(endpoint.base);
      assert.ok(lb);
      return api(lb);
    },
  });
}

/** Moves time in small steps, letting the signaller's continuations run between them. */
async function runFor(clock: ManualClock, ms: number, step = 50): Promise<void> {
  await flush();
  for (let t = 0; t < ms; t += step) {
    await clock.advance(step);
    await flush();
  }
}

/** Read through a call: an assertion on `.length` would narrow it for the rest of the test. */
function countOf(items: readonly unknown[]): number {
  return items.length;
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe('HealthGate', () => {
  it('opens after OK answers that span the stable time, restarts on a down answer, opens at once on 404', () => {
    const gate = new HealthGate(2_000);
    gate.observe('ok', 0);
    gate.observe('ok', 1_500);
    gate.observe('down', 1_900);
    gate.observe('ok', 2_500);
    assert.equal(gate.open, false);
    gate.observe('ok', 4_400);
    assert.equal(gate.open, false);
    gate.observe('ok', 4_500);
    assert.equal(gate.open, true);
    gate.distrust();
    assert.equal(gate.open, false);
    gate.observe('absent', 5_000);
    assert.equal(gate.open, true);
  });
});

describe('SignalCycle', () => {
  it('doubles the wait between signals up to the cap and gives up at the grace after the last new name', () => {
    const cycle = new SignalCycle({ firstWaitMs: 10_000, maxWaitMs: 80_000, graceMs: 300_000 }, 0);
    cycle.accepted(['a'], 0);
    assert.equal(cycle.waitUntil(0), 10_000);
    cycle.accepted(['a'], 10_000);
    assert.equal(cycle.waitUntil(10_000), 30_000);
    cycle.accepted(['b'], 50_000);
    assert.equal(cycle.deadline, 350_000, 'a new name gets its own grace');
    assert.equal(cycle.next('not-delivered', 349_999), 'resend');
    assert.equal(cycle.next('not-delivered', 350_000), 'give-up');
    assert.equal(cycle.next('unknown', 1), 'done');
    assert.equal(cycle.next('delivered', 1), 'done');
  });
});

describe('LbSignaller', () => {
  it('signals an LB met for the first time only after 2 s of OK health answers', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    const s = signaller(clock, [lb]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 1_900);
    assert.equal(lb.signals.length, 0);
    assert.equal(s.state('http://lb0:9090')?.awaitingHealth, true);
    await runFor(clock, 700);
    const [signalledAt] = lb.signals;
    assert.ok(signalledAt !== undefined && signalledAt >= 2_000, `signalled at ${signalledAt}`);
    await s.settled();
    assert.deepEqual(s.pending, []);
  });

  it('waits while the health endpoint is down and for 2 s of OK after it comes up', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    lb.health = (now) => (now < 3_000 ? { kind: 'down', error: 'ECONNREFUSED' } : { kind: 'ok' });
    const s = signaller(clock, [lb]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 6_000);
    assert.equal(lb.signals.length, 1);
    assert.ok((lb.signals[0] ?? 0) >= 5_000, `signalled at ${lb.signals[0]}`);
    await s.settled();
  });

  it('signals at once where there is no health endpoint, and takes an accepted signal as done without pids', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    lb.health = () => ({ kind: 'absent' });
    const s = signaller(clock, [lb]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 50);
    assert.deepEqual(lb.signals, [0]);
    await s.settled();
    assert.deepEqual(s.pending, []);
  });

  it('after a failed signal, waits for its backoff and a new run of OK health answers', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    lb.failSignals = 1;
    let healthLooks: number[] = [];
    lb.health = (now) => {
      healthLooks.push(now);
      return { kind: 'ok' };
    };
    const s = signaller(clock, [lb]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 2_100);
    assert.equal(countOf(lb.signals), 0, 'the first attempt failed');
    healthLooks = [];
    await runFor(clock, 5_000);
    assert.equal(countOf(lb.signals), 1, 'retried once');
    const [retriedAt] = lb.signals;
    assert.ok(retriedAt !== undefined);
    assert.ok(healthLooks.length >= 5, 'the health endpoint was looked at again before the retry');
    const firstLook = healthLooks[0] ?? 0;
    assert.ok(retriedAt - firstLook >= 2_000, `retry at ${retriedAt}, health looks from ${firstLook}`);
    assert.equal(s.state('http://lb0:9090')?.lastResult?.ok, true);
  });

  it('coalesces a burst: the first name goes out at once, the other 49 together one second later', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    lb.health = () => ({ kind: 'absent' });
    const s = signaller(clock, [lb]);
    s.signalAll('new n0.test', ['n0.test']);
    for (let i = 1; i < 50; i++) {
      await runFor(clock, 10, 10);
      s.signalAll(`new n${i}.test`, [`n${i}.test`]);
    }
    await runFor(clock, 1_500, 10);
    assert.deepEqual(lb.signals, [0, 1_000]);
    await s.settled();
  });

  it('keeps each LB on its own: one that never gets healthy does not hold up the other', async () => {
    const clock = new ManualClock(0);
    const down = new FakeLb(clock);
    down.health = () => ({ kind: 'down', error: 'ECONNREFUSED' });
    const up = new FakeLb(clock);
    up.health = () => ({ kind: 'absent' });
    const s = signaller(clock, [down, up]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 10_000);
    assert.deepEqual(up.signals, [0]);
    assert.deepEqual(down.signals, []);
    assert.deepEqual(s.pending, ['http://lb0:9090']);
    s.stop();
    await s.settled();
  });

  it('confirms by a new HAProxy pid, and sends again when the accepted signal caused no reload', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    lb.health = () => ({ kind: 'absent' });
    lb.pidList = ['1', '2'];
    lb.reloads = (n) => n >= 2;
    const s = signaller(clock, [lb]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 12_000);
    assert.deepEqual(lb.signals, [0, 10_000], 'the lost signal was sent again after the first wait');
    await runFor(clock, 30_000);
    assert.equal(lb.signals.length, 2, 'a reload showed: no third signal');
    assert.deepEqual(s.pending, []);
    assert.equal(s.state('http://lb0:9090')?.undelivered, false);
  });

  it('gives up, bounded, when no reload ever shows, and says so in its state', async () => {
    const clock = new ManualClock(0);
    const lb = new FakeLb(clock);
    lb.health = () => ({ kind: 'absent' });
    lb.pidList = ['1', '2'];
    lb.reloads = () => false;
    const s = signaller(clock, [lb]);
    s.signalAll('new a.test', ['a.test']);
    await runFor(clock, 400_000, 250);
    assert.deepEqual(lb.signals, [0, 10_000, 30_000, 70_000, 150_000, 230_000]);
    assert.deepEqual(s.pending, []);
    assert.equal(s.state('http://lb0:9090')?.undelivered, true);
  });
});
