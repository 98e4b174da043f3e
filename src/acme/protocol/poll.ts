/**
 * When to poll a pending authorization or a processing order again (RFC 8555 §7.5.1, §7.4). Pure: the
 * client sleeps on its own clock.
 */
import type { AcmeEndpoint } from './endpoints.js';

export interface PollBackoff {
  /** The wait before the first poll, doubled after each poll... */
  firstMs: number;
  /** ...up to this. */
  maxMs: number;
  /** Polls at most. */
  attempts: number;
}

/**
 * A first poll 50 ms after the challenge is answered catches a CA that validates at once (pebble,
 * or Let's Encrypt with a warm cache); doubling up to 10 s, 14 polls take about 73 s in all.
 */
export const DEFAULT_POLL_BACKOFF: PollBackoff = { firstMs: 50, maxMs: 10_000, attempts: 14 };

/** An authorization or order still not done when polling gave up. */
export class AcmePollTimeoutError extends Error {
  override readonly name = 'AcmePollTimeoutError';

  constructor(
    readonly url: string,
    readonly endpoint: AcmeEndpoint,
    readonly lastStatus: string,
    readonly waitedMs: number,
    why: string,
  ) {
    super(`ACME ${endpoint} ${url} is still ${lastStatus} after ${Math.round(waitedMs / 100) / 10} s of polling: ${why}`);
  }
}

/** The whole time polling may take: what the backoff alone would spend on all its polls. */
export function pollBudgetMs(policy: PollBackoff): number {
  let total = 0;
  for (let attempt = 0; attempt < policy.attempts; attempt++) total += backoffMs(policy, attempt);
  return total;
}

/**
 * The wait before poll `attempt` (0-based), or why polling stops. The CA's Retry-After is obeyed
 * (with the first backoff step as a floor, so that `Retry-After: 0` cannot make a busy loop); a wait
 * that would take polling past its budget stops it instead of being cut short, since asking before
 * the CA said to would only be answered with the same state.
 */
export function nextPoll(
  policy: PollBackoff,
  attempt: number,
  retryAfterMs: number | undefined,
  waitedMs: number,
): { waitMs: number } | { stop: string } {
  if (attempt >= policy.attempts) return { stop: `${policy.attempts} polls` };
  const waitMs = retryAfterMs === undefined ? backoffMs(policy, attempt) : Math.max(policy.firstMs, retryAfterMs);
  const budget = pollBudgetMs(policy);
  if (waitedMs + waitMs > budget) {
    return { stop: retryAfterMs === undefined ? `more than ${budget} ms` : `the CA asked to wait ${retryAfterMs} ms more, beyond the ${budget} ms this client polls` };
  }
  return { waitMs };
}

function backoffMs(policy: PollBackoff, attempt: number): number {
  return Math.min(policy.maxMs, policy.firstMs * 2 ** attempt);
}
