import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  failureBackoffMs,
  planIssuance,
  planRenewals,
  recordFailure,
  renewalNames,
  type CertSummary,
  type FailureRecord,
} from '../../src/certs/plan.js';
import { lifetimeRenewalTime } from '../../src/certs/renewal-schedule.js';

const DAY = 86_400_000;
const wanted = (name: string, appId = '/app') => ({ name, appId, portIndex: 0 });
/** A stored certificate under the first name, covering all the names. */
const stored = (...names: string[]) => new Map([[names[0] ?? '', { names }]]);

describe('issuance plan', () => {
  it('orders only wanted names without a stored certificate, once each', () => {
    const plan = planIssuance([wanted('a.example'), wanted('b.example'), wanted('a.example', '/other')], stored('b.example'), new Map(), 0);
    assert.deepEqual(plan.issue.map((o) => o.names), [['a.example']]);
    assert.deepEqual(plan.deferred, []);
  });

  it('holds back a name that failed until its backoff has passed', () => {
    const failures = new Map<string, FailureRecord>([['a.example', { failures: 1, lastError: problem('boom'), nextAttemptAt: 1000, lastFailureAt: 0 }]]);
    assert.deepEqual(planIssuance([wanted('a.example')], new Map(), failures, 999).deferred, [{ name: 'a.example', until: 1000, lastError: 'connection: boom' }]);
    assert.deepEqual(planIssuance([wanted('a.example')], new Map(), failures, 1000).issue.map((o) => o.wanted.name), ['a.example']);
  });
});

describe('SAN certificates', () => {
  const san = (...names: string[]) => ({ name: names[0] ?? '', appId: '/app', portIndex: 0, sans: names });

  it('orders one certificate for all names of a port', () => {
    const plan = planIssuance([san('a.example', 'b.example', 'c.example')], new Map(), new Map(), 0);
    assert.deepEqual(plan.issue, [{ wanted: san('a.example', 'b.example', 'c.example'), names: ['a.example', 'b.example', 'c.example'], reason: 'new' }]);
  });

  it('re-issues when the name set changes, in either direction, and not when it is the same', () => {
    const have = stored('a.example', 'b.example');
    assert.deepEqual(planIssuance([san('a.example', 'b.example')], have, new Map(), 0).issue, []);
    assert.deepEqual(planIssuance([san('a.example', 'b.example', 'c.example')], have, new Map(), 0).issue.map((o) => o.reason), ['names changed']);
    assert.deepEqual(planIssuance([san('a.example')], have, new Map(), 0).issue.map((o) => o.names), [['a.example']]);
  });

  it('a single-name wanted certificate is served by any stored one covering it', () => {
    assert.deepEqual(planIssuance([wanted('a.example')], stored('a.example', 'b.example'), new Map(), 0).issue, []);
  });
});

describe('renewal rule', () => {
  const cert = (notBefore: number, notAfter: number, name = 'a.example'): CertSummary => ({ name, names: [name], notBefore, notAfter });

  it('renews a 90-day certificate with 30 days left, not with 31', () => {
    const c = cert(0, 90 * DAY);
    assert.equal(planRenewals([c], new Map(), 59 * DAY).renew.length, 0);
    assert.equal(planRenewals([c], new Map(), 60 * DAY).renew.length, 1);
  });

  it('scales to 6-day certificates: renew with 2 days left', () => {
    const c = cert(0, 6 * DAY);
    assert.equal(planRenewals([c], new Map(), 3.9 * DAY).renew.length, 0);
    assert.equal(planRenewals([c], new Map(), 4 * DAY).renew.length, 1);
  });

  it('renewal time always lies inside the lifetime, two thirds of the way', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 36 }), (start, length) => {
        const t = lifetimeRenewalTime({ notBefore: start, notAfter: start + length });
        return t >= start && t <= start + length && Math.abs(t - (start + (2 * length) / 3)) < 1;
      }),
    );
  });

  it('plans due certificates most urgent first and defers those in backoff', () => {
    const stored = [cert(0, 90 * DAY, 'late.example'), cert(0, 80 * DAY, 'early.example'), cert(0, 900 * DAY, 'fresh.example'), cert(0, 70 * DAY, 'failing.example')];
    const failures = new Map<string, FailureRecord>([['failing.example', { failures: 2, lastError: problem('x'), nextAttemptAt: 100 * DAY, lastFailureAt: 0 }]]);
    const plan = planRenewals(stored, failures, 75 * DAY);
    assert.deepEqual(plan.renew.map((c) => c.name), ['early.example', 'late.example']);
    assert.deepEqual(plan.deferred.map((d) => d.name), ['failing.example']);
  });

  it('renews for the file name first, then the other names of the certificate', () => {
    assert.deepEqual(renewalNames({ name: 'b.example', names: ['a.example', 'b.example'], notBefore: 0, notAfter: 1 }), ['b.example', 'a.example']);
  });
});

describe('failure backoff', () => {
  it('waits 1 min, 10 min, 100 min, then a day', () => {
    assert.deepEqual([1, 2, 3, 4, 9].map(failureBackoffMs), [60_000, 600_000, 6_000_000, DAY, DAY]);
  });

  it('counts consecutive failures', () => {
    const first = recordFailure(undefined, problem('a'), undefined, 0);
    const second = recordFailure(first, problem('b'), undefined, 10);
    assert.deepEqual(second, { failures: 2, lastError: problem('b'), nextAttemptAt: 10 + 600_000, lastFailureAt: 10 });
  });

  it("obeys the CA's Retry-After on rateLimited and 503 when it is longer than the backoff", () => {
    const limited = recordFailure(undefined, { type: 'rateLimited', detail: 'too many', status: 429 }, 3 * 3_600_000, 0);
    assert.equal(limited.nextAttemptAt, 3 * 3_600_000);
    const unavailable = recordFailure(undefined, { type: undefined, detail: 'busy', status: 503 }, 5_000, 0);
    assert.equal(unavailable.nextAttemptAt, 60_000, 'a shorter Retry-After does not shorten our backoff');
    const other = recordFailure(undefined, { type: 'unauthorized', detail: 'no', status: 403 }, 3 * 3_600_000, 0);
    assert.equal(other.nextAttemptAt, 60_000, 'Retry-After on other problems does not stretch the schedule');
  });
});

function problem(detail: string) {
  return { type: 'connection', detail, status: undefined };
}
