/**
 * A renewal an operator asked for (`marathon-acme renew`): what may bypass the usual rules and what
 * may not. Pure.
 *
 * It goes now, whatever the renewal time (the ARI window or the lifetime rule) and past our own
 * failure backoff: someone who has just fixed a route wants to see it work, not wait out 100 minutes.
 * It does not go past a wait the CA itself asked for (a rate limit, an overloaded CA): sending anyway
 * would only earn another refusal, and rate-limit answers are what get accounts blocked. Everything
 * else (the preflight, the rate budget, one order per name at a time) applies as to any renewal.
 */
import { caAskedToWait } from '../certs/plan.js';
import type { AcmeProblem, FailureState } from '../state/state.js';

/** What became of one name a forced renewal was asked for. */
export type ForcedRenewal =
  | { name: string; outcome: 'renewed'; notAfter: number | undefined }
  /** `retryAt`: when the daemon tries again by itself, when it will. */
  | { name: string; outcome: 'failed'; problem: AcmeProblem; retryAt: number | undefined }
  /** No stored certificate by that name. */
  | { name: string; outcome: 'not-managed' };

/** The refusal when the CA's last answer for this name asked to wait and that wait is not over. */
export function caWaitRefusal(name: string, failure: FailureState | undefined, now: number): ForcedRenewal | undefined {
  if (failure === undefined || failure.nextAttemptAt <= now || !caAskedToWait(failure.lastError)) return undefined;
  const { type, detail, status } = failure.lastError;
  return {
    name,
    outcome: 'failed',
    problem: { type, status, detail: `not sent: the CA asked to wait until ${new Date(failure.nextAttemptAt).toISOString()} (${detail})` },
    retryAt: failure.nextAttemptAt,
  };
}

/** The outcome of an order that was attempted, from whether it wrote a certificate and what was remembered. */
export function attemptOutcome(name: string, written: boolean, notAfter: number | undefined, failure: FailureState | undefined): ForcedRenewal {
  if (written) return { name, outcome: 'renewed', notAfter };
  return {
    name,
    outcome: 'failed',
    problem: failure?.lastError ?? { type: undefined, detail: 'the order failed; see the log', status: undefined },
    retryAt: failure?.nextAttemptAt,
  };
}
