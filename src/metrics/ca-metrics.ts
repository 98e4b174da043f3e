import { budgetUsage } from '../acme/rate-budget.js';
import type { CaState } from '../state/ca-state.js';
import type { CaMetric } from './metrics.js';

/** What /metrics shows of each configured CA, from what the leader keeps of it (state.json's `cas`). */
export function caMetrics(cas: ReadonlyMap<string, CaState>, now: number): CaMetric[] {
  return [...cas].map(([ca, state]) => ({
    ca,
    budget: state.rateLimits?.limits === undefined ? undefined : budgetUsage(state.budget, now, state.rateLimits.limits),
    unavailableSince: state.health.downSince,
  }));
}
