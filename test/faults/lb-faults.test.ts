/**
 * Signalling marathon-lb instances: every LB once per change set, failing ones retried until they
 * accept; and, through the whole daemon against pebble, a dead or failing LB never holds up
 * issuance or the healthy LB.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import { Daemon } from '../../src/daemon.js';
import { LbSignaller } from '../../src/lb/marathon-lb.js';
import { silentLogger } from '../../src/log.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { startLbReceiver, type LbReceiver } from '../support/lb-receiver.js';
import { freePort } from '../support/ports.js';
import { startPeers } from '../support/peers.js';

describe('marathon-lb signaller', () => {
  it('signals every LB once, concurrently', async (t) => {
    const rec = faultCase(t, { area: 'Load balancers', fault: 'two healthy LBs (baseline)', tried: '1 change set' });
    const lbs = await Promise.all([startLbReceiver(), startLbReceiver()]);
    const dispatcher = new Agent();
    t.after(async () => { await Promise.all(lbs.map((lb) => lb.stop())); await dispatcher.destroy(); });
    const signaller = new LbSignaller({ urls: lbs.map((lb) => lb.url), dispatcher, clock: systemClock, logger: silentLogger(), backoff: { baseMs: 10, capMs: 100 }, timeoutMs: 2_000 });
    signaller.signalAll('test');
    await signaller.settled();
    assert.deepEqual(lbs.map((lb) => lb.usr1), [1, 1]);
    // Before the signal: the health check (an LB not yet known to be up is never signalled, a USR1
    // in marathon-lb's first moments kills it) and the pids (to see the reload happen).
    const expected = ['GET /_haproxy_health_check', 'GET /_haproxy_getpids', 'POST /_mlb_signal/usr1'];
    assert.deepEqual(lbs.map((lb) => lb.requests.map((r) => `${r.method} ${r.path}`)), [expected, expected]);
    assert.deepEqual(signaller.pending, []);
    rec.observe('each LB got exactly one POST /_mlb_signal/usr1');
  });

  it('retries a failing LB with growing pauses until it accepts, without holding up the healthy one', async (t) => {
    const rec = faultCase(t, { area: 'Load balancers', fault: 'one LB answers 500 three times', tried: '1 change set, 2 LBs' });
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
    assert.equal(failing.requests.filter((r) => r.method === 'POST').length, 4, 'three refused signals and the accepted one');
    assert.deepEqual(sleeps, [100, 200, 400]);
    rec.observe(`healthy LB signalled before the first retry; failing LB retried after ${sleeps.join(', ')} ms pauses, then accepted (${failing.requests.length} requests)`);
  });

  it('keeps owing the signal while an LB is unreachable, and folds new requests into it', async (t) => {
    const rec = faultCase(t, { area: 'Load balancers', fault: 'LB unreachable, then back on its port', tried: '2 change sets while it is down' });
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
    rec.observe('signal owed while down; one reload delivered for both change sets once it listened again');
  });

  for (const fault of ['down', 'error500'] as const) {
    const what = fault === 'down' ? 'is down (connection refused)' : 'answers 500';
    it(`issues and signals the healthy LB at once while the other ${what}`, async (t) => {
      const rec = faultCase(t, { area: 'Load balancers', fault: `one of two LBs ${what} during issuance`, tried: '2 + 1 certificates through the daemon and pebble, then the LB recovers' });
      const defer = cleanupStack(t);
      const { httpPort, pebble, marathon } = await startPeers(defer);
      const app = (i: number) => hostApp(`/lb${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: `lbfault${i}.example.test` });
      marathon.addApp(app(0));
      marathon.addApp(app(1));
      const healthy = await startLbReceiver();
      defer(() => healthy.stop());
      const brokenPort = await freePort();
      let broken: LbReceiver | undefined;
      if (fault === 'error500') {
        broken = await startLbReceiver({ port: brokenPort });
        broken.setStatus(500);
      }
      defer(async () => broken?.stop());
      const storage = await mkdtemp(join(tmpdir(), 'ma-lbfault-'));
      defer(() => rm(storage, { recursive: true, force: true }));
      const config = testConfig({
        storageDir: storage,
        acmeDirectoryUrl: pebble.directoryUrl,
        acmeCaFile: pebble.caFile,
        marathonUrls: [marathon.url],
        lbUrls: [`http://127.0.0.1:${brokenPort}`, healthy.url],
        listen: { host: '127.0.0.1', port: httpPort },
        keyType: 'ecdsa-p256',
      });
      const daemon = new Daemon({ config, logger: silentLogger() });
      await daemon.start();
      defer(() => daemon.stop(1_000));
      const certs = async (): Promise<number> => (await readdir(join(storage, 'certs'))).length;
      await eventually('two certificates and the healthy LB signalled', async () => (await certs()) === 2 && healthy.usr1 >= 1);
      const firstSignals = healthy.usr1;
      marathon.addApp(app(2));
      await eventually('a third certificate while the broken LB still fails', async () => (await certs()) === 3 && healthy.usr1 > firstSignals);
      // The healthy LB's coalesced signal may be owed for a moment too; the broken one stays owed.
      await eventually('only the broken LB is still owed its signal', () => daemon.health().details['pendingLbSignals'] === 1);
      rec.observe(`3/3 issued and the healthy LB signalled ${healthy.usr1} times while the other ${what}`);
      const triedBefore = broken?.requests.length ?? 0;
      const recoveredAt = Date.now();
      if (broken === undefined) broken = await startLbReceiver({ port: brokenPort });
      else broken.setStatus(200);
      const lb = broken;
      await eventually('the recovered LB gets its signal', () => lb.usr1 === 1, 60_000);
      await daemon.lbSettled();
      assert.equal(lb.usr1, 1, 'one reload covers every change it missed');
      rec.observe(`${fault === 'error500' ? `attempts refused with 500: ${triedBefore}; ` : ''}recovered LB reloaded once, ${((Date.now() - recoveredAt) / 1000).toFixed(1)} s after it came back`);
    });
  }
});

