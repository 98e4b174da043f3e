import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { backoffDelay } from '../../src/util/backoff.js';
import { Limiter } from '../../src/util/limiter.js';
import { Coalescer } from '../../src/sync/coalescer.js';
import type { Clock } from '../../src/util/clock.js';
import { endpointUrl, parseEndpoint } from '../../src/util/endpoint.js';

describe('backoff', () => {
  it('stays between half and all of the capped exponential delay, never zero', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay({ baseMs: 500, capMs: 60_000 }, attempt, () => r);
        const full = Math.min(60_000, 500 * 2 ** attempt);
        return d >= full / 2 - 1 && d <= full && d > 0;
      }),
    );
  });
});

describe('limiter', () => {
  it('never runs more than the limit at once and runs everything', async () => {
    const limiter = new Limiter(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setImmediate(r));
          active--;
          return i;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('sync coalescing', () => {
  it('a burst during a run becomes exactly one more run', async () => {
    const runs: string[][] = [];
    let release: () => void = () => undefined;
    const c = new Coalescer(async (reasons) => {
      runs.push([...reasons]);
      if (runs.length === 1) await new Promise<void>((r) => { release = r; });
    });
    c.request('first');
    for (let i = 0; i < 1000; i++) c.request(`event ${i}`);
    release();
    await c.whenIdle();
    assert.equal(runs.length, 2);
    assert.deepEqual(runs[0], ['first']);
    assert.equal(runs[1]?.[0], 'event 0');
  });

  it('keeps going after a failing run', async () => {
    let count = 0;
    const c = new Coalescer(() => {
      count++;
      return Promise.reject(new Error('boom'));
    });
    c.request('a');
    await c.whenIdle();
    c.request('b');
    await c.whenIdle();
    assert.equal(count, 2);
  });

  it('runs a request after a quiet spell at once, but a burst at most once per interval', async () => {
    let now = 0;
    const sleeps: Array<{ until: number; wake: () => void }> = [];
    const clock: Clock = {
      now: () => now,
      sleep: (ms, signal) =>
        new Promise<void>((resolve) => {
          sleeps.push({ until: now + ms, wake: resolve });
          signal?.addEventListener('abort', () => { resolve(); }, { once: true });
        }),
    };
    const advance = async (ms: number): Promise<void> => {
      now += ms;
      for (const s of sleeps.splice(0)) {
        if (s.until <= now) s.wake();
        else sleeps.push(s);
      }
      await new Promise((r) => setImmediate(r));
    };
    const startedAt: number[] = [];
    const c = new Coalescer(() => { startedAt.push(now); return Promise.resolve(); }, { clock, minIntervalMs: 1_000 });
    c.request('first');
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 500; i++) c.request(`burst ${i}`);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(startedAt, [0], 'the burst waits for the interval');
    await advance(400);
    for (let i = 0; i < 500; i++) c.request(`more ${i}`);
    await advance(599);
    assert.deepEqual(startedAt, [0]);
    await advance(1);
    assert.deepEqual(startedAt, [0, 1_000], 'one run for the whole burst');
    await c.whenIdle();
    await advance(5_000);
    c.request('after a quiet spell');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(startedAt, [0, 1_000, 6_000]);
    c.request('waiting');
    await c.stop();
    assert.deepEqual(startedAt, [0, 1_000, 6_000], 'a waiting run is dropped on stop');
  });

  it('lets a request marked skipInterval cut the wait short, once', async () => {
    let now = 0;
    const sleeps: Array<{ until: number; wake: () => void }> = [];
    const clock = {
      now: () => now,
      sleep: (ms: number, signal?: AbortSignal) =>
        new Promise<void>((resolve) => {
          sleeps.push({ until: now + ms, wake: resolve });
          signal?.addEventListener('abort', () => { resolve(); }, { once: true });
        }),
    };
    const runs: Array<{ at: number; reasons: readonly string[] }> = [];
    const c = new Coalescer((reasons) => { runs.push({ at: now, reasons }); return Promise.resolve(); }, { clock, minIntervalMs: 1_000 });
    c.request('attached');
    await new Promise((r) => setImmediate(r));
    c.request('event');
    await new Promise((r) => setImmediate(r));
    now = 100;
    c.request('account ready', { skipInterval: true });
    await c.whenIdle();
    assert.deepEqual(runs, [{ at: 0, reasons: ['attached'] }, { at: 100, reasons: ['event', 'account ready'] }]);
    now = 200;
    c.request('later');
    await new Promise((r) => setImmediate(r));
    assert.equal(runs.length, 2, 'the next ordinary request waits out the interval again');
    await c.stop();
  });

  it('starts nothing after stop', async () => {
    let count = 0;
    const c = new Coalescer(() => { count++; return Promise.resolve(); });
    await c.stop();
    c.request('late');
    await c.whenIdle();
    assert.equal(count, 0);
  });
});

describe('Marathon endpoint', () => {
  it('turns credentials into Basic auth and never displays them', () => {
    const e = parseEndpoint('http://us%40er:p%3Ass@marathon.example:8080/');
    assert.equal(e.base, 'http://marathon.example:8080');
    assert.equal(e.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
    assert.equal(e.display, 'http://***@marathon.example:8080');
  });

  it('keeps a base path', () => {
    const e = parseEndpoint('http://host:8080/marathon/');
    assert.equal(endpointUrl(e, '/v2/apps'), 'http://host:8080/marathon/v2/apps');
    assert.equal(e.authorization, undefined);
  });
});
