/**
 * Capped exponential backoff with jitter. Pure: the random source is passed in, so tests can pin it.
 *
 * The delay for attempt n (0-based) is drawn uniformly from [half, full] of min(cap, base * factor^n):
 * never zero (no hot loop even when a peer fails instantly), and spread so that many clients that
 * failed together do not come back together.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  factor?: number;
}

export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const factor = policy.factor ?? 2;
  const exp = Math.min(policy.capMs, policy.baseMs * factor ** Math.max(0, attempt));
  return Math.round(exp / 2 + (random() * exp) / 2);
}
