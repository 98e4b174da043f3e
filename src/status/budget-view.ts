/**
 * What is left of the client-side rate budget, for `status`, `/status` and `/status.json`: the
 * limits the daemon last planned with (kept in state.json), and what its ledger has spent of each
 * now. Null before a daemon has written its limits; `limits: null` when it plans with none.
 */
import { budgetUsage, type BudgetState } from '../acme/rate-budget.js';
import type { RateLimits } from '../acme/rate-limits.js';
import { UNNAMED_CA, type CaState } from '../state/ca-state.js';

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

/** One CA the daemon orders from, as `status`, /status and /status.json show it. */
export interface CaStatus {
  /** The ACME directory URL; null for the ledger of a file written before CAs were kept apart. */
  directory: string | null;
  /** The first in the configured order. */
  primary: boolean;
  /** Since when the CA has failed as unavailable (no answer, 5xx), ISO 8601; null while it answers. */
  unavailableSince: string | null;
  rateBudget: BudgetView | null;
}

/** The CAs as state.json remembers them, primary first. */
export function caStatusList(cas: ReadonlyMap<string, CaState>, now: number): CaStatus[] {
  return [...cas].map(([directory, ca], i) => ({
    directory: directory === UNNAMED_CA ? null : directory,
    primary: i === 0,
    unavailableSince: ca.health.downSince === undefined ? null : new Date(ca.health.downSince).toISOString(),
    rateBudget: budgetView(ca.rateLimits, ca.budget, now),
  }));
}

/** One line per CA for the `status` table's foot: its budget, and whether it is unavailable. */
export function caSummaries(cas: readonly CaStatus[]): string[] {
  return cas.map((ca) => {
    const budget = ca.rateBudget === null ? 'rate budget: not recorded yet' : budgetSummary(ca.rateBudget);
    const down = ca.unavailableSince === null ? '' : `; unavailable since ${ca.unavailableSince}`;
    if (cas.length === 1) return `${budget}${down}`;
    return `${ca.directory ?? 'the CA of an earlier version'}${ca.primary ? ' (primary)' : ''}: ${budget}${down}`;
  });
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
