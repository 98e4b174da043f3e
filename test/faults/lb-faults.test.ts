/** Signalling marathon-lb instances: every LB once per change set, failing ones retried until they accept. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import { LbSignaller } from '../../src/lb/marathon-lb.js';
import { silentLogger } from '../../src/log.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { freePort } from '../support/ports.js';

describe('marathon-lb signaller', () => {
  it('signals every LB once, concurrently', async (t) => {
    const lbs = await Promise.all([startLbReceiver(), startLbReceiver()]);
    const dispatcher = new Agent();
    t.after(async () => { await Promise.all(lbs.map((lb) => lb.stop())); await dispatcher.destroy(); });
    const signaller = new LbSignaller({ urls: lbs.map((lb) => lb.url), dispatcher, clock: systemClock, logger: silentLogger(), backoff: { baseMs: 10, capMs: 100 }, timeoutMs: 2_000 });
    signaller.signalAll('test');
    await signaller.settled();
    assert.deepEqual(lbs.map((lb) => lb.usr1), [1, 1]);
    assert.deepEqual(lbs.map((lb) => lb.requests.map((r) => `${r.method} ${r.path}`)), [['POST /_mlb_signal/usr1'], ['POST /_mlb_signal/usr1']]);
    assert.deepEqual(signaller.pending, []);
  });

  it('retries a failing LB with growing pauses until it accepts, without holding up the healthy one', async (t) => {
    const healthy = await startLbReceiver();
    const failing = await startLbReceiver({ failures: 3 });
    const dispatcher = new Agent();
    t.after(async () => { await Promise.all([healthy.stop(), failing.stop()]); await dispatcher.destroy(); });
    const sleeps: number[] = [];
    let healthyAtFirstRetry = -1;
    const clock: Clock = {
      now: () => Date.now(),
      sleep: (ms) => {
        if (sleeps.length === 0) healthyAtFirstRetry = healthy.usr1;
        sleeps.push(ms);
        return Promise.resolve();
      },
    };
    const signaller = new LbSignaller({ urls: [healthy.url, failing.url], dispatcher, clock, logger: silentLogger(), backoff: { baseMs: 100, capMs: 1_000 }, timeoutMs: 2_000, random: () => 1 });
    signaller.signalAll('test');
    await signaller.settled();
    assert.equal(healthy.usr1, 1);
    assert.equal(healthyAtFirstRetry, 1, 'the healthy LB was signalled before the failing one was retried');
    assert.equal(failing.usr1, 1);
    assert.equal(failing.requests.length, 4);
    assert.deepEqual(sleeps, [100, 200, 400]);
  });

  it('keeps owing the signal while an LB is unreachable, and folds new requests into it', async (t) => {
    const port = await freePort();
    const dispatcher = new Agent();
    const signaller = new LbSignaller({ urls: [`http://127.0.0.1:${port}`], dispatcher, clock: systemClock, logger: silentLogger(), backoff: { baseMs: 20, capMs: 50 }, timeoutMs: 1_000 });
    t.after(async () => { signaller.stop(); await dispatcher.destroy(); });
    signaller.signalAll('first');
    signaller.signalAll('second');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(signaller.pending, [`http://127.0.0.1:${port}`]);
    const lb = await startLbReceiver({ port });
    t.after(() => lb.stop());
    await signaller.settled();
    assert.equal(lb.usr1, 1, 'one reload covers both requests');
    assert.deepEqual(signaller.pending, []);
  });
});

