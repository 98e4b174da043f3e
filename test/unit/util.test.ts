import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { backoffDelay } from '../../src/util/backoff.js';
import { Limiter } from '../../src/util/limiter.js';
import { Coalescer } from '../../src/sync/coalescer.js';
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
