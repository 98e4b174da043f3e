import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryChecker, type Probe } from '../../src/delivery/checker.js';
import type { ProbeResult } from '../../src/delivery/probe.js';
import { ManualClock } from '../support/manual-clock.js';

const ok: ProbeResult = { ok: true, leaf: { fingerprint256: 'aa', serialHex: '01', names: ['x.test'], issuer: 'CN=x', notBefore: 0, notAfter: 1 } };
const names = (n: number, prefix = 'n'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}.test`);
const target = { host: '127.0.0.1', port: 443 };

describe('DeliveryChecker', () => {
  it('keeps at most perLb probes in flight per LB and `total` over all LBs, and answers every name', async () => {
    let inFlight = 0;
    let peak = 0;
    const perHost = new Map<string, number>();
    let peakPerHost = 0;
    const probe: Probe = async (o) => {
      inFlight++;
      perHost.set(o.host, (perHost.get(o.host) ?? 0) + 1);
      peak = Math.max(peak, inFlight);
      peakPerHost = Math.max(peakPerHost, perHost.get(o.host) ?? 0);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      perHost.set(o.host, (perHost.get(o.host) ?? 0) - 1);
      return ok;
    };
    const checker = new DeliveryChecker(probe, new ManualClock(0), { perLb: 4, total: 6 });
    const signal = new AbortController().signal;
    const outcomes = await Promise.all(['a', 'b', 'c'].map((lb) => checker.check(lb, { host: lb, port: 443 }, names(50), signal)));
    assert.deepEqual(outcomes.map((o) => [o.results.length, o.skipped.length]), [[50, 0], [50, 0], [50, 0]]);
    assert.ok(peakPerHost <= 4, `per LB peak ${peakPerHost}`);
    assert.ok(peak <= 6, `total peak ${peak}`);
    assert.ok(peak > 1, 'probes ran concurrently');
  });

  it('writes off the rest of an LB whose first handshakes all fail, instead of timing out per name', async () => {
    let calls = 0;
    const probe: Probe = () => {
      calls++;
      return Promise.resolve({ ok: false, error: 'connection to 127.0.0.1:443 failed: ECONNREFUSED' });
    };
    const checker = new DeliveryChecker(probe, new ManualClock(0), { perLb: 1, giveUpAfter: 3 });
    const { results } = await checker.check('a', target, names(1000), new AbortController().signal);
    assert.equal(calls, 3);
    assert.equal(results.length, 1000);
    const last = results.at(-1)?.result;
    assert.ok(last !== undefined && !last.ok);
    assert.match(last.error, /not tried: the first 3 handshakes with this LB failed \(connection to .*ECONNREFUSED\)/);
  });

  it('keeps trying every name once one handshake succeeded', async () => {
    let calls = 0;
    const probe: Probe = () => Promise.resolve(calls++ === 0 ? ok : { ok: false, error: 'handshake failure' });
    const checker = new DeliveryChecker(probe, new ManualClock(0), { perLb: 1, giveUpAfter: 3 });
    await checker.check('a', target, names(20), new AbortController().signal);
    assert.equal(calls, 20);
  });

  it('stops starting probes when the batch budget is spent, and reports the names left out', async () => {
    const clock = new ManualClock(0);
    const probe: Probe = async () => {
      await clock.advance(1_000);
      return ok;
    };
    const checker = new DeliveryChecker(probe, clock, { perLb: 1, batchBudgetMs: 5_000 });
    const { results, skipped } = await checker.check('a', target, names(10), new AbortController().signal);
    assert.equal(results.length, 5);
    assert.deepEqual(skipped, names(10).slice(5));
  });
});
