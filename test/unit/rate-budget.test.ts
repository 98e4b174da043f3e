import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkBudget,
  emptyBudget,
  LETS_ENCRYPT_LIMITS,
  parseBudgetState,
  recordOrder,
  registeredDomain,
  releaseReservation,
  type BudgetLimits,
  type BudgetState,
} from '../../src/acme/rate-budget.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);

/** Small limits keep the tests readable; the arithmetic is the same at LE's sizes. */
const SMALL: BudgetLimits = { ordersPerWindow: 3, orderWindowMs: 3 * HOUR, certsPerDomainPerWindow: 2, domainWindowMs: 7 * DAY };

/** Places orders one after another, as a caller that follows the budget would. */
function issue(state: BudgetState, names: readonly string[], at: number, limits = SMALL, issued = true): BudgetState {
  const decision = checkBudget(state, names, at, limits);
  assert.equal(decision.allowed, true, `expected room for ${names.join(',')} at +${at - T0} ms`);
  return recordOrder(state, names, at, limits, { issued });
}

describe('registeredDomain', () => {
  it('uses the public suffix list, private section included', () => {
    assert.equal(registeredDomain('example.com'), 'example.com');
    assert.equal(registeredDomain('www.example.com'), 'example.com');
    assert.equal(registeredDomain('a.b.example.co.uk'), 'example.co.uk');
    assert.equal(registeredDomain('x.github.io'), 'x.github.io');
    assert.equal(registeredDomain('deep.x.github.io'), 'x.github.io');
  });

  it('normalises case and a trailing dot so spellings share one bucket', () => {
    assert.equal(registeredDomain('WWW.Example.COM.'), 'example.com');
  });

  it('counts names the list cannot place on their own', () => {
    assert.equal(registeredDomain('192.0.2.7'), '192.0.2.7');
    assert.equal(registeredDomain('localhost'), 'localhost');
    assert.equal(registeredDomain('github.io'), 'github.io');
  });
});

describe('LETS_ENCRYPT_LIMITS', () => {
  it('plans with 90% of the documented 300 orders / 3 h and 50 certificates / 7 d', () => {
    assert.deepEqual({ ...LETS_ENCRYPT_LIMITS }, { ordersPerWindow: 270, orderWindowMs: 3 * HOUR, certsPerDomainPerWindow: 45, domainWindowMs: 7 * DAY });
    assert.ok(Object.isFrozen(LETS_ENCRYPT_LIMITS));
  });
});

describe('checkBudget / recordOrder', () => {
  it('allows orders up to the limit, then refuses until the oldest one leaves the window', () => {
    let state = emptyBudget();
    state = issue(state, ['a.one.test'], T0);
    state = issue(state, ['b.two.test'], T0 + 10 * 60_000);
    state = issue(state, ['c.three.test'], T0 + 20 * 60_000);
    const refused = checkBudget(state, ['d.four.test'], T0 + 30 * 60_000, SMALL);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAt, T0 + 3 * HOUR);
    assert.match(refused.reason, /new-order budget of 3 per 3 h/);
    assert.match(refused.reason, new RegExp(new Date(T0 + 3 * HOUR).toISOString()));
    // One millisecond early is still too early; at retryAt the slot is free again.
    assert.equal(checkBudget(state, ['d.four.test'], refused.retryAt - 1, SMALL).allowed, false);
    assert.equal(checkBudget(state, ['d.four.test'], refused.retryAt, SMALL).allowed, true);
  });

  it('slides: each slot comes back exactly one window after it was spent', () => {
    let state = emptyBudget();
    const times = [T0, T0 + HOUR, T0 + 2 * HOUR];
    for (const [i, t] of times.entries()) state = issue(state, [`www.slide${i}.test`], t);
    state = issue(state, ['www.slide3.test'], T0 + 3 * HOUR);
    const next = checkBudget(state, ['www.slide4.test'], T0 + 3 * HOUR + 1, SMALL);
    assert.equal(next.allowed, false);
    assert.equal(next.retryAt, T0 + 4 * HOUR);
    state = issue(state, ['www.slide4.test'], T0 + 4 * HOUR);
    const after = checkBudget(state, ['www.slide5.test'], T0 + 4 * HOUR, SMALL);
    assert.equal(after.allowed, false);
    assert.equal(after.retryAt, T0 + 5 * HOUR);
  });

  it('refuses a certificate when one registered domain is spent, whatever the subdomain', () => {
    const limits = { ...SMALL, ordersPerWindow: 100 };
    let state = emptyBudget();
    state = issue(state, ['a.example.com'], T0, limits);
    state = issue(state, ['b.example.com'], T0 + DAY, limits);
    const refused = checkBudget(state, ['c.example.com'], T0 + 2 * DAY, limits);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAt, T0 + 7 * DAY);
    assert.match(refused.reason, /certificate budget of 2 per 7 d for example\.com/);
    assert.equal(checkBudget(state, ['c.example.org'], T0 + 2 * DAY, limits).allowed, true);
  });

  it('needs a certificate slot in every registered domain of a multi-domain order', () => {
    const limits = { ...SMALL, ordersPerWindow: 100 };
    let state = emptyBudget();
    state = issue(state, ['x.busy.test'], T0, limits);
    state = issue(state, ['y.busy.test'], T0 + HOUR, limits);
    const refused = checkBudget(state, ['www.free.test', 'www.busy.test'], T0 + 2 * HOUR, limits);
    assert.equal(refused.allowed, false);
    assert.match(refused.reason, /for busy\.test/);
    // A multi-domain certificate spends one slot in each domain, and two names of one domain one slot.
    state = issue(state, ['www.free.test', 'api.free.test', 'www.other.test'], T0 + 2 * HOUR, limits);
    assert.deepEqual(state.certs['free.test'], [T0 + 2 * HOUR]);
    assert.deepEqual(state.certs['other.test'], [T0 + 2 * HOUR]);
  });

  it('reports the furthest reset when several limits are spent', () => {
    let state = emptyBudget();
    state = issue(state, ['a.dom.test'], T0);
    state = issue(state, ['b.dom.test'], T0 + HOUR);
    state = issue(state, ['c.else.test'], T0 + 2 * HOUR);
    const refused = checkBudget(state, ['d.dom.test'], T0 + 2 * HOUR, SMALL);
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAt, T0 + 7 * DAY);
    assert.match(refused.reason, /new-order budget/);
    assert.match(refused.reason, /for dom\.test/);
  });

  it('counts a failed order against the order limit but not against the domain', () => {
    let state = emptyBudget();
    state = issue(state, ['a.fail.test'], T0, SMALL, false);
    state = issue(state, ['a.fail.test'], T0 + 1, SMALL, false);
    assert.equal(state.orders.length, 2);
    assert.deepEqual(state.certs, {});
    // Without `issued`, the certificate is counted: over-counting is the safe side.
    state = recordOrder(state, ['a.fail.test'], T0 + 2, SMALL);
    assert.deepEqual(state.certs, { 'fail.test': [T0 + 2] });
  });

  it('lets renewals of the same name set through without spending anything', () => {
    let state = emptyBudget();
    for (let i = 0; i < 3; i++) state = issue(state, [`www.renew${i}.test`], T0 + i);
    assert.equal(checkBudget(state, ['www.renew0.test'], T0 + 10, SMALL).allowed, false);
    assert.deepEqual(checkBudget(state, ['www.renew0.test'], T0 + 10, SMALL, { renewal: true }), { allowed: true });
    const after = recordOrder(state, ['www.renew0.test'], T0 + 10, SMALL, { renewal: true, issued: true });
    assert.deepEqual(after, state);
  });

  it('releases a reservation: the certificate slots always, the order slot only for an order never sent', () => {
    let state = issue(emptyBudget(), ['a.keep.test'], T0);
    const reserved = recordOrder(state, ['b.keep.test', 'www.other.test'], T0 + 5, SMALL, { issued: true });
    const snapshot = structuredClone(reserved);
    const sent = releaseReservation(reserved, ['b.keep.test', 'www.other.test'], T0 + 5, { orderSent: true });
    assert.deepEqual(reserved, snapshot, 'the input is left untouched');
    assert.deepEqual(sent, { orders: [T0, T0 + 5], certs: { 'keep.test': [T0] } });
    const unsent = releaseReservation(reserved, ['b.keep.test', 'www.other.test'], T0 + 5, { orderSent: false });
    assert.deepEqual(unsent, { orders: [T0], certs: { 'keep.test': [T0] } });
    // Two reservations stamped in the same millisecond: releasing one leaves the other counted.
    state = recordOrder(recordOrder(state, ['c.keep.test'], T0 + 9, SMALL), ['d.keep.test'], T0 + 9, SMALL);
    assert.deepEqual(releaseReservation(state, ['c.keep.test'], T0 + 9, { orderSent: false }), { orders: [T0, T0 + 9], certs: { 'keep.test': [T0, T0 + 9] } });
  });

  it('never mutates its input and drops entries that left their windows', () => {
    const state: BudgetState = {
      orders: [T0 - 4 * HOUR, T0 - HOUR],
      certs: { 'old.test': [T0 - 8 * DAY], 'keep.test': [T0 - 8 * DAY, T0 - DAY] },
    };
    const snapshot = structuredClone(state);
    const next = recordOrder(state, ['www.keep.test'], T0, SMALL, { issued: true });
    assert.deepEqual(state, snapshot);
    assert.deepEqual(next, { orders: [T0 - HOUR, T0], certs: { 'keep.test': [T0 - DAY, T0] } });
    assert.notEqual(next.orders, state.orders);
    assert.notEqual(next.certs['keep.test'], state.certs['keep.test']);
    // checkBudget is a pure read as well.
    checkBudget(state, ['x.keep.test'], T0, SMALL);
    assert.deepEqual(state, snapshot);
  });

  it('treats awkward domain keys as plain keys', () => {
    let state = emptyBudget();
    state = recordOrder(state, ['constructor'], T0, SMALL, { issued: true });
    state = recordOrder(state, ['__proto__'], T0, SMALL, { issued: true });
    assert.deepEqual(Object.keys(state.certs).sort(), ['__proto__', 'constructor']);
    assert.equal(checkBudget(state, ['toString'], T0, SMALL).allowed, true);
    assert.deepEqual(parseBudgetState(JSON.parse(JSON.stringify(state))), state);
  });

  it('rejects limits that could never allow anything', () => {
    assert.throws(() => checkBudget(emptyBudget(), ['a.test'], T0, { ...SMALL, ordersPerWindow: 0 }), RangeError);
    assert.throws(() => recordOrder(emptyBudget(), ['a.test'], T0, { ...SMALL, domainWindowMs: 0 }), RangeError);
  });
});

describe('parseBudgetState', () => {
  it('round-trips through JSON', () => {
    let state = emptyBudget();
    state = recordOrder(state, ['a.example.com', 'b.example.org'], T0, SMALL, { issued: true });
    assert.deepEqual(parseBudgetState(JSON.parse(JSON.stringify(state))), state);
  });

  it('turns garbage into an empty ledger and drops what is not a number', () => {
    for (const garbage of [null, undefined, 42, 'text', [], [1, 2], true]) {
      assert.deepEqual(parseBudgetState(garbage), emptyBudget());
    }
    assert.deepEqual(parseBudgetState({ orders: 'nope', certs: [] }), emptyBudget());
    assert.deepEqual(
      parseBudgetState({
        orders: [1, '2', null, 3, Number.NaN, Infinity, { t: 4 }],
        certs: { 'a.test': [5, 'x', 6], 'b.test': 'seven', 'c.test': [], 'd.test': ['only junk'] },
        extra: true,
      }),
      { orders: [1, 3], certs: { 'a.test': [5, 6] } },
    );
  });
});

describe('budget property', () => {
  it('following checkBudget never puts more than the limit inside any window', () => {
    const domains = ['alpha.test', 'beta.test', 'gamma.co.uk', 'x.github.io', 'y.github.io'];
    const request = fc.record({
      gapMs: fc.integer({ min: 0, max: 2 * HOUR }),
      names: fc.uniqueArray(fc.tuple(fc.constantFrom('www', 'api', 'a.b'), fc.constantFrom(...domains)), { minLength: 1, maxLength: 3 }),
      issued: fc.boolean(),
      renewal: fc.boolean(),
    });
    const limits: BudgetLimits = { ordersPerWindow: 4, orderWindowMs: 3 * HOUR, certsPerDomainPerWindow: 3, domainWindowMs: 12 * HOUR };
    fc.assert(
      fc.property(fc.array(request, { maxLength: 120 }), (requests) => {
        let state = emptyBudget();
        let now = T0;
        // The full history, independent of the pruned ledger, to check every window afterwards.
        const orders: number[] = [];
        const certs = new Map<string, number[]>();
        for (const r of requests) {
          now += r.gapMs;
          const names = r.names.map(([label, domain]) => `${label}.${domain}`);
          const options = { renewal: r.renewal };
          const decision = checkBudget(state, names, now, limits, options);
          if (!decision.allowed) {
            assert.ok(decision.retryAt > now, 'retryAt lies in the future');
            continue;
          }
          state = recordOrder(state, names, now, limits, { renewal: r.renewal, issued: r.issued });
          if (r.renewal) continue;
          orders.push(now);
          if (!r.issued) continue;
          for (const domain of new Set(names.map(registeredDomain))) certs.set(domain, [...(certs.get(domain) ?? []), now]);
        }
        assertWindows(orders, limits.ordersPerWindow, limits.orderWindowMs);
        for (const times of certs.values()) assertWindows(times, limits.certsPerDomainPerWindow, limits.domainWindowMs);
      }),
      { numRuns: 300 },
    );
  });

  it('a refused order is allowed at its retryAt', () => {
    const limits: BudgetLimits = { ordersPerWindow: 3, orderWindowMs: HOUR, certsPerDomainPerWindow: 2, domainWindowMs: 5 * HOUR };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: HOUR }), fc.constantFrom('a.one.test', 'b.two.test', 'c.one.test')), { maxLength: 60 }), (steps) => {
        let state = emptyBudget();
        let now = T0;
        for (const [gap, name] of steps) {
          now += gap;
          const decision = checkBudget(state, [name], now, limits);
          if (decision.allowed) {
            state = recordOrder(state, [name], now, limits, { issued: true });
          } else {
            assert.equal(checkBudget(state, [name], decision.retryAt, limits).allowed, true);
            assert.equal(checkBudget(state, [name], decision.retryAt - 1, limits).allowed, false);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** Every window [t, t + windowMs) starting at an event holds at most `limit` events. */
function assertWindows(times: readonly number[], limit: number, windowMs: number): void {
  const sorted = [...times].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i] ?? 0;
    const inside = sorted.filter((t) => t >= start && t < start + windowMs).length;
    assert.ok(inside <= limit, `${inside} events within ${windowMs} ms of ${start}, limit ${limit}`);
  }
}
