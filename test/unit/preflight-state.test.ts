/** The preflight's history lives in each name's failure record in state.json and survives restarts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyState, parseState, serializeState, type FailureState } from '../../src/state/state.js';

const at = (iso: string): number => Date.parse(iso);

function failure(extra: Partial<FailureState> = {}): FailureState {
  return {
    failures: 3,
    lastError: { type: 'preflight:connection', detail: 'no route reaches this daemon', status: undefined },
    nextAttemptAt: at('2026-12-02T01:00:00.000Z'),
    lastFailureAt: at('2026-12-01T23:20:00.000Z'),
    ...extra,
  };
}

describe('preflight history in state.json', () => {
  it('round-trips the failed preflights in a row and the last order sent anyway', () => {
    const state = emptyState();
    state.certificates.set('hairpin.example', { failure: failure({ preflightFailures: 4, orderedAnywayAt: at('2026-12-01T00:00:00.000Z') }) });
    const text = serializeState(state);
    const raw = JSON.parse(text) as { certificates: Record<string, { failure: Record<string, unknown> }> };
    assert.equal(raw.certificates['hairpin.example']?.failure['preflightFailures'], 4);
    assert.equal(raw.certificates['hairpin.example'].failure['orderedAnywayAt'], '2026-12-01T00:00:00.000Z');
    const { state: parsed, problems } = parseState(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(parsed.certificates.get('hairpin.example')?.failure, failure({ preflightFailures: 4, orderedAnywayAt: at('2026-12-01T00:00:00.000Z') }));
    assert.equal(serializeState(parsed), text);
  });

  it('writes nothing extra for a failure without preflight history, so older versions read it as before', () => {
    const state = emptyState();
    state.certificates.set('plain.example', { failure: failure() });
    const text = serializeState(state);
    assert.doesNotMatch(text, /preflightFailures|orderedAnywayAt/);
    assert.deepEqual(parseState(text).state.certificates.get('plain.example')?.failure, failure());
  });

  it('reads a file written before the history existed, and drops unusable history values alone', () => {
    const old = JSON.stringify({
      version: 1,
      certificates: {
        'old.example': { failure: { failures: 2, lastError: { type: 'preflight:dns', detail: 'x', status: null }, nextAttemptAt: '2026-12-01T00:10:00.000Z', lastFailureAt: '2026-12-01T00:00:00.000Z' } },
        'odd.example': {
          failure: { failures: 1, lastError: { type: null, detail: 'y', status: null }, nextAttemptAt: '2026-12-01T00:01:00.000Z', lastFailureAt: '2026-12-01T00:00:00.000Z', preflightFailures: -1, orderedAnywayAt: 'yesterday' },
        },
      },
    });
    const { state, problems } = parseState(old);
    assert.deepEqual(problems, []);
    const oldFailure = state.certificates.get('old.example')?.failure;
    assert.equal(oldFailure?.failures, 2);
    assert.equal(oldFailure.preflightFailures, undefined);
    assert.equal(oldFailure.orderedAnywayAt, undefined);
    const odd = state.certificates.get('odd.example')?.failure;
    assert.equal(odd?.failures, 1);
    assert.equal(odd.preflightFailures, undefined);
    assert.equal(odd.orderedAnywayAt, undefined);
  });
});
