import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chooseCa, classifyFailure, recordCaFailure, trialDueAt, type CaView, type FailureClass } from '../../src/ca/fallback-policy.js';
import type { FailureState } from '../../src/state/state.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-12-06T12:00:00Z');
const PRIMARY = 'https://primary.example/directory';
const SECOND = 'https://second.example/directory';
const FALLBACK = HOUR;

const up = (directory: string): CaView => ({ directory, downSince: undefined, lastFailureAt: undefined, trialInFlight: false });
const downFor = (directory: string, ms: number, lastFailureAgo = 0): CaView => ({ directory, downSince: NOW - ms, lastFailureAt: NOW - lastFailureAgo, trialInFlight: false });
const problem = (type: string | undefined, status?: number) => ({ type, detail: 'x', status });

function failure(fields: Partial<FailureState> = {}): FailureState {
  return { failures: 1, lastError: problem('serverInternal', 500), nextAttemptAt: NOW + MINUTE, lastFailureAt: NOW, ...fields };
}

describe('fallback policy', () => {
  it('tells validation failures, rate limits and an unavailable CA apart', () => {
    const cases: Array<[ReturnType<typeof problem>, 'timeout' | 'network' | undefined, FailureClass]> = [
      [problem('unauthorized', 403), undefined, 'validation'],
      [problem('connection', 400), undefined, 'validation'],
      [problem('dns', 400), undefined, 'validation'],
      [problem('caa', 403), undefined, 'validation'],
      [problem('preflight:nxdomain'), undefined, 'validation'],
      [problem('rateLimited', 429), undefined, 'rate-limited'],
      [problem('budget'), undefined, 'rate-limited'],
      [problem(undefined, 429), undefined, 'rate-limited'],
      [problem('serverInternal', 500), undefined, 'unavailable'],
      [problem(undefined, 503), undefined, 'unavailable'],
      [problem(undefined), 'timeout', 'unavailable'],
      [problem(undefined), 'network', 'unavailable'],
      [problem('malformed', 400), undefined, 'other'],
      [problem('rejectedIdentifier', 400), undefined, 'other'],
      [problem(undefined), undefined, 'other'],
    ];
    for (const [p, transport, kind] of cases) assert.equal(classifyFailure(p, transport), kind, JSON.stringify([p, transport]));
  });

  it('keeps the primary while it has been failing for less than --fallback-after, and moves on after', () => {
    const choose = (primary: CaView) => chooseCa({ cas: [primary, up(SECOND)], failure: undefined, now: NOW, fallbackAfterMs: FALLBACK });
    assert.deepEqual(choose(up(PRIMARY)), { directory: PRIMARY, trial: false, passedOver: undefined });
    assert.equal(choose(downFor(PRIMARY, FALLBACK - 1)).directory, PRIMARY);
    const moved = choose(downFor(PRIMARY, FALLBACK));
    assert.equal(moved.directory, SECOND);
    assert.match(moved.passedOver ?? '', /primary\.example.*unavailable since/);
  });

  it('sends one order at a time to a CA counted as down, a whole --fallback-after after it counted as down and after each failed test', () => {
    const health = { downSince: NOW, lastFailureAt: NOW };
    assert.equal(trialDueAt(health, FALLBACK), NOW + 2 * FALLBACK);
    assert.equal(trialDueAt({ downSince: NOW, lastFailureAt: NOW + 3 * FALLBACK }, FALLBACK), NOW + 4 * FALLBACK);
    const atTrial = chooseCa({ cas: [downFor(PRIMARY, 2 * FALLBACK, FALLBACK), up(SECOND)], failure: undefined, now: NOW, fallbackAfterMs: FALLBACK });
    assert.deepEqual([atTrial.directory, atTrial.trial], [PRIMARY, true]);
    const busy = chooseCa({ cas: [{ ...downFor(PRIMARY, 2 * FALLBACK, FALLBACK), trialInFlight: true }, up(SECOND)], failure: undefined, now: NOW, fallbackAfterMs: FALLBACK });
    assert.equal(busy.directory, SECOND, 'one test order at a time');
  });

  it('passes over a CA that rate limited the name until its wait is over', () => {
    const waited = failure({ directory: PRIMARY, kind: 'rate-limited', caWaits: { [PRIMARY]: NOW + DAY } });
    assert.equal(chooseCa({ cas: [up(PRIMARY), up(SECOND)], failure: waited, now: NOW, fallbackAfterMs: FALLBACK }).directory, SECOND);
    assert.equal(chooseCa({ cas: [up(PRIMARY), up(SECOND)], failure: waited, now: NOW + DAY, fallbackAfterMs: FALLBACK }).directory, PRIMARY);
  });

  it('moves an urgent renewal that failed at a CA, unless the failure was a validation', () => {
    const validity = { notBefore: NOW - 85 * DAY, notAfter: NOW + 5 * DAY };
    const relaxed = { notBefore: NOW - 30 * DAY, notAfter: NOW + 60 * DAY };
    const failedThere = (kind: FailureClass) => failure({ directory: PRIMARY, kind });
    const choose = (f: FailureState, v: typeof validity) => chooseCa({ cas: [up(PRIMARY), up(SECOND)], failure: f, validity: v, now: NOW, fallbackAfterMs: FALLBACK }).directory;
    assert.equal(choose(failedThere('other'), validity), SECOND);
    assert.equal(choose(failedThere('unavailable'), validity), SECOND);
    assert.equal(choose(failedThere('validation'), validity), PRIMARY, 'any CA would fail the same validation');
    assert.equal(choose(failedThere('other'), relaxed), PRIMARY, 'not yet in the last tenth of its lifetime');
  });

  it('falls back to the primary when no CA can take the order, unless it rate limited the name', () => {
    const cas = [downFor(PRIMARY, FALLBACK), downFor(SECOND, FALLBACK)];
    assert.equal(chooseCa({ cas, failure: undefined, now: NOW, fallbackAfterMs: FALLBACK }).directory, PRIMARY);
    const waited = failure({ caWaits: { [PRIMARY]: NOW + DAY } });
    assert.equal(chooseCa({ cas, failure: waited, now: NOW, fallbackAfterMs: FALLBACK }).directory, SECOND);
  });

  it('tries the next CA at once after a long rate limit, ignoring the first CA\'s Retry-After', () => {
    const record = failure({ lastError: problem('rateLimited', 429), nextAttemptAt: NOW + DAY });
    const input = { record, backoffOnlyAt: NOW + MINUTE, directory: PRIMARY, cas: [up(PRIMARY), up(SECOND)], now: NOW, fallbackAfterMs: FALLBACK };
    const long = recordCaFailure({ ...input, kind: 'rate-limited', waitUntil: NOW + DAY });
    assert.deepEqual([long.nextAttemptAt, long.caWaits, long.directory, long.kind], [NOW, { [PRIMARY]: NOW + DAY }, PRIMARY, 'rate-limited']);
    const short = recordCaFailure({ ...input, record: { ...record, nextAttemptAt: NOW + 10 * MINUTE }, kind: 'rate-limited', waitUntil: NOW + 10 * MINUTE });
    assert.equal(short.nextAttemptAt, NOW + 10 * MINUTE, 'a wait shorter than --fallback-after is waited out at the same CA');
    assert.equal(short.caWaits, undefined);
  });

  it('moves a name off an unavailable CA as soon as the CA counts as down, not after the name\'s own backoff', () => {
    const record = failure({ failures: 3, nextAttemptAt: NOW + 100 * MINUTE });
    const result = recordCaFailure({ record, backoffOnlyAt: NOW + 100 * MINUTE, directory: PRIMARY, kind: 'unavailable', waitUntil: undefined, cas: [downFor(PRIMARY, 20 * MINUTE), up(SECOND)], now: NOW, fallbackAfterMs: FALLBACK });
    assert.equal(result.nextAttemptAt, NOW + 40 * MINUTE);
    const validation = recordCaFailure({ record, backoffOnlyAt: NOW + 100 * MINUTE, directory: PRIMARY, kind: 'validation', waitUntil: undefined, cas: [up(PRIMARY), up(SECOND)], now: NOW, fallbackAfterMs: FALLBACK });
    assert.equal(validation.nextAttemptAt, NOW + 100 * MINUTE, 'a validation failure waits its backoff where it is');
  });

  it('with one CA never changes when a name is tried again, and always chooses it', () => {
    const kinds: FailureClass[] = ['validation', 'rate-limited', 'unavailable', 'other'];
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.integer({ min: 0, max: 30 * DAY }),
        fc.integer({ min: 0, max: 30 * DAY }),
        fc.option(fc.integer({ min: 0, max: 3 * HOUR }), { nil: undefined }),
        (kind, nextIn, waitIn, downFor) => {
          const cas = [{ ...up(PRIMARY), downSince: downFor === undefined ? undefined : NOW - downFor, lastFailureAt: NOW }];
          const record = failure({ nextAttemptAt: NOW + nextIn });
          const result = recordCaFailure({ record, backoffOnlyAt: NOW + MINUTE, directory: PRIMARY, kind, waitUntil: NOW + waitIn, cas, now: NOW, fallbackAfterMs: FALLBACK });
          assert.equal(result.nextAttemptAt, record.nextAttemptAt);
          assert.equal(chooseCa({ cas, failure: result, now: NOW, fallbackAfterMs: FALLBACK }).directory, PRIMARY);
        },
      ),
    );
  });

  it('never sets a next attempt later than the one it was given, nor earlier than now', () => {
    const kinds: FailureClass[] = ['validation', 'rate-limited', 'unavailable', 'other'];
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.integer({ min: 0, max: 2 * DAY }),
        fc.integer({ min: 0, max: 2 * DAY }),
        fc.option(fc.integer({ min: 0, max: 3 * HOUR }), { nil: undefined }),
        fc.boolean(),
        (kind, nextIn, waitIn, primaryDown, urgent) => {
          const cas = [{ ...up(PRIMARY), downSince: primaryDown === undefined ? undefined : NOW - primaryDown, lastFailureAt: NOW }, up(SECOND)];
          const record = failure({ nextAttemptAt: NOW + nextIn });
          const validity = urgent ? { notBefore: NOW - 89 * DAY, notAfter: NOW + DAY } : undefined;
          const result = recordCaFailure({ record, backoffOnlyAt: NOW + MINUTE, directory: PRIMARY, kind, waitUntil: NOW + waitIn, cas, validity, now: NOW, fallbackAfterMs: FALLBACK });
          assert.ok(result.nextAttemptAt <= record.nextAttemptAt && result.nextAttemptAt >= NOW);
          if (kind === 'validation' && !urgent && primaryDown === undefined) assert.equal(result.nextAttemptAt, record.nextAttemptAt);
        },
      ),
    );
  });
});
