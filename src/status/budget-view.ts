/**
 * What is left of the client-side rate budget, for `status`, `/status` and `/status.json`: the
 * limits the daemon last planned with (kept in state.json), and what its ledger has spent of each
 * now. Null before a daemon has written its limits; `limits: null` when it plans with none.
 */
import { budgetUsage, type BudgetState } from '../acme/rate-budget.js';
import type { RateLimits } from '../acme/rate-limits.js';

/** Registered domains listed by name: the fullest few, which a burst of new names fills first. */
const DOMAINS_SHOWN = 5;

export interface BudgetView {
  /** Where the limits come from, in words (`--rate-limits`, or the CA's default). */
  source: string;
  limits: {
    newOrders: { used: number; limit: number; windowHours: number };
    certificatesPerDomain: { used: number; limit: number; windowDays: number; fullest: Array<{ domain: string; used: number }> };
  } | null;
}

export function budgetView(rateLimits: RateLimits | undefined, ledger: BudgetState, now: number): BudgetView | null {
  if (rateLimits === undefined) return null;
  if (rateLimits.limits === undefined) return { source: rateLimits.source, limits: null };
  const usage = budgetUsage(ledger, now, rateLimits.limits);
  return {
    source: rateLimits.source,
    limits: {
      newOrders: { used: usage.newOrders.used, limit: usage.newOrders.limit, windowHours: usage.newOrders.windowMs / 3_600_000 },
      certificatesPerDomain: {
        used: usage.certificatesPerDomain.used,
        limit: usage.certificatesPerDomain.limit,
        windowDays: usage.certificatesPerDomain.windowMs / 86_400_000,
        fullest: usage.certificatesPerDomain.byDomain.slice(0, DOMAINS_SHOWN),
      },
    },
  };
}

/** One line of text, for the `status` table's foot and the /status card. */
export function budgetSummary(view: BudgetView): string {
  if (view.limits === null) return `rate budget: none (${view.source})`;
  const { newOrders, certificatesPerDomain: perDomain } = view.limits;
  const fullest = perDomain.fullest[0];
  const domain = fullest === undefined ? 'no certificate in any registered domain' : `fullest registered domain ${fullest.domain}: ${fullest.used} of ${perDomain.limit}`;
  return `rate budget (${view.source}): ${newOrders.used} of ${newOrders.limit} new orders in ${newOrders.windowHours} h; ${domain} certificates in ${perDomain.windowDays} days`;
}
