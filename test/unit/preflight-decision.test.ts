import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decidePreflight,
  FAILURES_BEFORE_ORDERING_ANYWAY,
  ORDER_ANYWAY_INTERVAL_MS,
  type DecisionInput,
  type DnsRouteOutcome,
  type PreflightDecision,
  type PreflightHistory,
  type RouteOutcome,
} from '../../src/preflight/decision.js';
import type { PreflightFailureKind } from '../../src/preflight/preflight.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');

const dnsOk: DnsRouteOutcome = { via: 'public DNS', ok: true, resolved: true };
const refused: DnsRouteOutcome = { via: 'public DNS', ok: false, kind: 'connection', reason: 'connection refused at 203.0.113.7:80: is marathon-lb listening?', resolved: true };
const timedOut: DnsRouteOutcome = { via: 'public DNS', ok: false, kind: 'timeout', reason: 'no answer from 203.0.113.7:80', resolved: true };
const noAddress: DnsRouteOutcome = { via: 'public DNS', ok: false, kind: 'dns', reason: 'DNS has no address for a.example', resolved: false };
const lbOk: RouteOutcome = { via: 'marathon-lb 10.0.0.5:80', ok: true };
const lbDown: RouteOutcome = { via: 'marathon-lb 10.0.0.6:80', ok: false, kind: 'connection', reason: 'connection refused at 10.0.0.6:80' };
const fresh: PreflightHistory = { failures: 0, orderedAnywayAt: undefined };

type Held = Extract<PreflightDecision, { order: false }>;

function held(d: PreflightDecision): Held {
  if (d.order) return assert.fail(`expected the order held back, got ${JSON.stringify(d)}`);
  return d;
}

function ordered<B extends 'dns' | 'lb' | 'anyway'>(d: PreflightDecision, basis: B): Extract<PreflightDecision, { order: true; basis: B }> {
  if (!d.order || d.basis !== basis) return assert.fail(`expected an order on basis ${basis}, got ${JSON.stringify(d)}`);
  return d as Extract<PreflightDecision, { order: true; basis: B }>;
}

function input(overrides: Partial<DecisionInput>): DecisionInput {
  return { mode: 'advisory', dns: dnsOk, lbs: [lbOk], history: fresh, now: T0, mayOrderAnyway: true, ...overrides };
}

describe('preflight decision', () => {
  it('orders when public DNS leads here, whatever the LBs say', () => {
    assert.deepEqual(decidePreflight(input({ lbs: [lbDown] })), { order: true, basis: 'dns' });
    assert.deepEqual(decidePreflight(input({ mode: 'strict', lbs: [] })), { order: true, basis: 'dns' });
  });

  it('orders through an LB when the public address refuses or times out from here (hairpin NAT), in both modes', () => {
    for (const mode of ['advisory', 'strict'] as const) {
      for (const dns of [refused, timedOut]) {
        const d = ordered(decidePreflight(input({ mode, dns, lbs: [lbDown, lbOk] })), 'lb');
        assert.match(d.why, /marathon-lb 10\.0\.0\.5:80/);
        assert.match(d.why, /hairpin NAT/);
        assert.doesNotMatch(d.why, /10\.0\.0\.6/, 'only the LBs that work are named as the route');
      }
    }
  });

  it('does not take a name without DNS, or one whose public address answers wrongly, for hairpin NAT', () => {
    const wrong: DnsRouteOutcome = { via: 'public DNS', ok: false, kind: 'wrong-answer', reason: 'something else answers', resolved: true };
    for (const dns of [noAddress, wrong]) {
      const d = held(decidePreflight(input({ dns })));
      assert.equal(d.kind, dns.kind);
      assert.match(d.reason, /the route through marathon-lb works, but the CA's route does not/);
    }
    // A DNS lookup that timed out never answered: no address, no hairpin.
    const lookupTimeout: DnsRouteOutcome = { via: 'public DNS', ok: false, kind: 'timeout', reason: 'the DNS lookup did not finish', resolved: false };
    assert.equal(decidePreflight(input({ dns: lookupTimeout })).order, false);
  });

  it('holds back a name no route works for, counting the failures, and names every route in the reason', () => {
    const d = held(decidePreflight(input({ dns: refused, lbs: [lbDown] })));
    assert.equal(d.kind, 'connection');
    assert.deepEqual(d.history, { failures: 1, orderedAnywayAt: undefined });
    assert.equal(d.orderAnywayAt, undefined);
    assert.match(d.reason, /^no route reaches this daemon: public DNS: connection refused at 203\.0\.113\.7:80.*; marathon-lb 10\.0\.0\.6:80: connection refused/);
    assert.match(d.reason, /one real order a day is sent anyway \(1 so far\)/);
  });

  it('in advisory mode orders anyway at the third failure in a row, then holds back until a day has passed', () => {
    const failing = { dns: refused, lbs: [lbDown] };
    held(decidePreflight(input({ ...failing, history: { failures: 1, orderedAnywayAt: undefined } })));
    const third = ordered(decidePreflight(input({ ...failing, history: { failures: 2, orderedAnywayAt: undefined } })), 'anyway');
    assert.equal(third.kind, 'connection');
    assert.deepEqual(third.history, { failures: 3, orderedAnywayAt: T0 });
    assert.match(third.why, /failed 3 times in a row/);

    const later = T0 + 100 * 60_000;
    const fourth = held(decidePreflight(input({ ...failing, history: third.history, now: later })));
    assert.equal(fourth.orderAnywayAt, T0 + DAY);
    assert.deepEqual(fourth.history, { failures: 4, orderedAnywayAt: T0 });
    assert.match(fourth.reason, /next order sent anyway is due at 2026-12-02T00:00:00\.000Z/);

    ordered(decidePreflight(input({ ...failing, history: fourth.history, now: T0 + DAY })), 'anyway');
  });

  it('in strict mode, and for secondary names, never orders without a pass', () => {
    const history = { failures: 9, orderedAnywayAt: T0 - 3 * DAY };
    const strict = held(decidePreflight(input({ mode: 'strict', dns: refused, lbs: [lbDown], history })));
    assert.equal(strict.orderAnywayAt, undefined);
    assert.match(strict.reason, /strict preflight: no order until the preflight passes$/);
    const secondary = held(decidePreflight(input({ dns: refused, lbs: [lbDown], history, mayOrderAnyway: false })));
    assert.equal(secondary.orderAnywayAt, undefined);
    assert.match(secondary.reason, /left out of the certificate until its preflight passes$/);
  });

  const kinds: PreflightFailureKind[] = ['dns', 'connection', 'timeout', 'wrong-answer', 'wrong-redirect', 'http-status'];
  const route = (via: string): fc.Arbitrary<RouteOutcome> =>
    fc.oneof(fc.constant<RouteOutcome>({ via, ok: true }), fc.constantFrom(...kinds).map((kind): RouteOutcome => ({ via, ok: false, kind, reason: `${kind} failure` })));
  const dnsRoute: fc.Arbitrary<DnsRouteOutcome> = fc.tuple(route('public DNS'), fc.boolean()).map(([r, resolved]) => ({ ...r, resolved: r.ok || resolved }));
  const lbRoutes = fc.array(route('marathon-lb'), { maxLength: 3 });

  it('strict mode orders exactly when DNS passes or hairpin NAT is seen with a working LB', () => {
    fc.assert(
      fc.property(dnsRoute, lbRoutes, fc.nat(50), (dns, lbs, failures) => {
        const d = decidePreflight(input({ mode: 'strict', dns, lbs, history: { failures, orderedAnywayAt: undefined } }));
        const hairpin = !dns.ok && dns.resolved && (dns.kind === 'connection' || dns.kind === 'timeout') && lbs.some((l) => l.ok);
        assert.equal(d.order, dns.ok || hairpin);
      }),
    );
  });

  it('advisory mode never orders anyway more than once a day, and never goes more than a day without one once due', () => {
    // A name that never passes, attempted at arbitrary gaps (the backoff's, or a restart's, or a sync's).
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 2 * DAY }), { minLength: 1, maxLength: 60 }), (gaps) => {
        let history = fresh;
        let now = T0;
        const anyway: number[] = [];
        for (const gap of gaps) {
          now += gap;
          const d = decidePreflight(input({ dns: refused, lbs: [lbDown], history, now }));
          if (d.order && d.basis === 'anyway') {
            anyway.push(now);
            history = d.history;
          } else if (!d.order) {
            history = d.history;
            if (d.history.failures >= FAILURES_BEFORE_ORDERING_ANYWAY) {
              // Held back only until a day after the last order sent anyway.
              assert.ok(d.orderAnywayAt !== undefined && d.orderAnywayAt > now && d.orderAnywayAt - (d.history.orderedAnywayAt ?? 0) === ORDER_ANYWAY_INTERVAL_MS);
            }
          } else {
            assert.fail('a failing name is ordered only anyway');
          }
        }
        for (let i = 1; i < anyway.length; i++) assert.ok((anyway[i] ?? 0) - (anyway[i - 1] ?? 0) >= DAY);
        if (gaps.length >= FAILURES_BEFORE_ORDERING_ANYWAY) assert.ok(anyway.length >= 1, 'the third failed attempt orders anyway');
      }),
    );
  });
});
