import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decideRenewalTime, nextAriPoll } from '../../src/certs/renewal-schedule.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ISSUED = Date.UTC(2026, 0, 1);
const never = (): number => {
  throw new Error('random must not be used without an ARI window');
};

describe('decideRenewalTime without ARI', () => {
  it('renews a 90-day certificate with 30 days left', () => {
    const d = decideRenewalTime({ notBefore: ISSUED, notAfter: ISSUED + 90 * DAY, now: ISSUED, random: never });
    assert.deepEqual(d, { renewAt: ISSUED + 60 * DAY, source: 'lifetime', reason: 'a third of the lifetime left' });
  });

  it('renews a 6-day certificate with 2 days left', () => {
    const d = decideRenewalTime({ notBefore: ISSUED, notAfter: ISSUED + 6 * DAY, now: ISSUED + DAY, random: never });
    assert.equal(d.renewAt, ISSUED + 4 * DAY);
    assert.equal(d.source, 'lifetime');
  });

  it('falls back to the lifetime rule for an invalid stored window', () => {
    const d = decideRenewalTime({
      notBefore: ISSUED,
      notAfter: ISSUED + 90 * DAY,
      now: ISSUED,
      ari: { window: { start: ISSUED + 50 * DAY, end: ISSUED + 50 * DAY } },
      random: never,
    });
    assert.equal(d.source, 'lifetime');
    assert.equal(d.renewAt, ISSUED + 60 * DAY);
    assert.match(d.reason, /invalid/);
  });
});

describe('decideRenewalTime with ARI', () => {
  const base = { notBefore: ISSUED, notAfter: ISSUED + 90 * DAY, now: ISSUED + DAY };
  const window = { start: ISSUED + 59 * DAY, end: ISSUED + 60 * DAY };

  it('picks the window start for random 0', () => {
    const d = decideRenewalTime({ ...base, ari: { window }, random: () => 0 });
    assert.equal(d.renewAt, window.start);
    assert.equal(d.source, 'ari');
    assert.equal(d.reason, 'ARI window 2026-03-01T00:00:00.000Z to 2026-03-02T00:00:00.000Z');
  });

  it('picks near the window end for random 0.999', () => {
    const d = decideRenewalTime({ ...base, ari: { window }, random: () => 0.999 });
    assert.ok(d.renewAt < window.end);
    assert.ok(d.renewAt >= window.end - 0.002 * DAY);
  });

  it('stays inside the window even when random misbehaves', () => {
    for (const r of [1, 1.5, -0.2, Number.NaN]) {
      const d = decideRenewalTime({ ...base, ari: { window }, random: () => r });
      assert.ok(d.renewAt >= window.start && d.renewAt < window.end, String(r));
    }
  });

  it('gives a time in the past (renew now) for a window in the past', () => {
    const now = ISSUED + 40 * DAY;
    const past = { start: ISSUED + 10 * DAY, end: ISSUED + 11 * DAY };
    const d = decideRenewalTime({ ...base, now, ari: { window: past }, random: () => 0.5 });
    assert.equal(d.source, 'ari');
    assert.ok(d.renewAt <= now);
    assert.match(d.reason, /already past: renew now/);
  });

  it('follows a window earlier than the lifetime rule (CA wants early replacement)', () => {
    const early = { start: ISSUED + 5 * DAY, end: ISSUED + 6 * DAY };
    const d = decideRenewalTime({ ...base, ari: { window: early }, random: () => 0 });
    assert.equal(d.renewAt, early.start);
  });

  it('ignores ARI and renews now with less than 1/20 of the lifetime left', () => {
    // 90 days / 20 = 4.5 days; 4 days left.
    const now = ISSUED + 86 * DAY;
    const late = { start: ISSUED + 89 * DAY, end: ISSUED + 95 * DAY };
    const d = decideRenewalTime({ ...base, now, ari: { window: late }, random: never });
    assert.deepEqual(d, { renewAt: now, source: 'emergency', reason: 'less than 1/20 of the lifetime left' });
  });

  it('does not call it an emergency at 1/20 exactly', () => {
    const now = ISSUED + 90 * DAY - 4.5 * DAY;
    const late = { start: ISSUED + 89 * DAY, end: ISSUED + 95 * DAY };
    assert.equal(decideRenewalTime({ ...base, now, ari: { window: late }, random: () => 0 }).source, 'ari');
  });
});

describe('decideRenewalTime properties', () => {
  const lifetimes = fc.integer({ min: 60_000, max: 400 * DAY });

  it("'ari' decisions always fall in [start, end)", () => {
    fc.assert(
      fc.property(
        lifetimes,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: -400 * DAY, max: 400 * DAY }),
        fc.integer({ min: 1, max: 30 * DAY }),
        fc.integer({ min: 0, max: 400 * DAY }),
        (lifetime, r, startOffset, span, elapsed) => {
          const start = ISSUED + startOffset;
          const window = { start, end: start + span };
          const d = decideRenewalTime({ notBefore: ISSUED, notAfter: ISSUED + lifetime, now: ISSUED + elapsed, ari: { window }, random: () => r });
          if (d.source === 'ari') return d.renewAt >= window.start && d.renewAt < window.end;
          return d.source === 'emergency' && d.renewAt === ISSUED + elapsed;
        },
      ),
    );
  });

  it("'lifetime' decisions always sit 2/3 into the lifetime", () => {
    fc.assert(
      fc.property(lifetimes, fc.integer({ min: 0, max: 400 * DAY }), (lifetime, elapsed) => {
        const d = decideRenewalTime({ notBefore: ISSUED, notAfter: ISSUED + lifetime, now: ISSUED + elapsed, random: never });
        if (d.source === 'lifetime') return Math.abs(d.renewAt - (ISSUED + (2 * lifetime) / 3)) < 1e-3;
        return d.source === 'emergency' && ISSUED + lifetime - (ISSUED + elapsed) < lifetime / 20;
      }),
    );
  });
});

describe('nextAriPoll', () => {
  it('polls again after Retry-After while the certificate is valid', () => {
    assert.equal(nextAriPoll(ISSUED, 6 * HOUR, ISSUED + 90 * DAY), ISSUED + 6 * HOUR);
  });

  it('stops polling once the certificate has expired', () => {
    assert.equal(nextAriPoll(ISSUED + 90 * DAY, 6 * HOUR, ISSUED + 90 * DAY), undefined);
    assert.equal(nextAriPoll(ISSUED + 91 * DAY, 6 * HOUR, ISSUED + 90 * DAY), undefined);
  });
});
