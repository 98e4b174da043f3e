/**
 * What the daemon remembers of each CA it orders from, in state.json: the rate budget it planned with
 * and the ledger of what it spent there, and whether the CA has been unavailable since some time
 * (the fallback to the next CA counts from then, across restarts). Pure.
 */
import { emptyBudget, parseBudgetState, type BudgetState } from '../acme/rate-budget.js';
import { limitsToJson, parseLimits, type RateLimits } from '../acme/rate-limits.js';
import type { CaHealth } from '../ca/fallback-policy.js';

export interface CaState {
  budget: BudgetState;
  /** The budget last planned with, so that `status` (which takes no options) can show what is left. */
  rateLimits: RateLimits | undefined;
  health: CaHealth;
}

/**
 * Files written before CAs were kept apart hold one ledger, of whichever CA was configured then; it
 * waits under this key until a daemon adopts it as its primary's (adoptCaStates).
 */
export const UNNAMED_CA = '';

export function emptyCaState(): CaState {
  return { budget: emptyBudget(), rateLimits: undefined, health: { downSince: undefined, lastFailureAt: undefined } };
}

/** The configured CAs, in their order, each with what was remembered of it; CAs no longer configured are dropped. */
export function adoptCaStates(cas: ReadonlyMap<string, CaState>, configured: ReadonlyArray<{ directoryUrl: string; rateLimits: RateLimits }>): Map<string, CaState> {
  const adopted = new Map<string, CaState>();
  configured.forEach((ca, i) => {
    const known = cas.get(ca.directoryUrl) ?? (i === 0 ? cas.get(UNNAMED_CA) : undefined) ?? emptyCaState();
    adopted.set(ca.directoryUrl, { ...known, rateLimits: ca.rateLimits });
  });
  return adopted;
}

export function caStatesToJson(cas: ReadonlyMap<string, CaState>): unknown[] {
  return [...cas].map(([directory, ca]) => ({
    directory,
    rateLimits: ca.rateLimits === undefined ? null : rateLimitsToJson(ca.rateLimits),
    budget: ca.budget,
    downSince: ca.health.downSince === undefined ? null : new Date(ca.health.downSince).toISOString(),
    lastFailureAt: ca.health.lastFailureAt === undefined ? null : new Date(ca.health.lastFailureAt).toISOString(),
  }));
}

export function rateLimitsToJson(rateLimits: RateLimits): unknown {
  return { source: rateLimits.source, limits: rateLimits.limits === undefined ? null : limitsToJson(rateLimits.limits) };
}

/** Never throws; an entry that cannot be understood is left out and named in `problems`. */
export function parseCaStates(raw: Record<string, unknown>, problems: string[]): Map<string, CaState> {
  const cas = new Map<string, CaState>();
  const list = raw['cas'];
  if (list === undefined) {
    // Before CAs were kept apart: one ledger and the limits planned with, at the top level.
    const legacy = emptyCaState();
    legacy.budget = parseBudgetState(raw['budget']);
    if (raw['rateLimits'] !== undefined) {
      legacy.rateLimits = parseRateLimitsRecord(raw['rateLimits']);
      if (legacy.rateLimits === undefined) problems.push('"rateLimits" is not understood');
    }
    if (raw['budget'] !== undefined || legacy.rateLimits !== undefined) cas.set(UNNAMED_CA, legacy);
    return cas;
  }
  if (!Array.isArray(list)) {
    problems.push('"cas" is not a list');
    return cas;
  }
  list.forEach((entry: unknown, i) => {
    const parsed = parseCaEntry(entry);
    if (parsed === undefined) problems.push(`cas[${i}] is not understood`);
    else cas.set(parsed.directory, parsed.state);
  });
  return cas;
}

function parseCaEntry(entry: unknown): { directory: string; state: CaState } | undefined {
  if (!isObject(entry) || typeof entry['directory'] !== 'string') return undefined;
  const rateLimits = entry['rateLimits'] === null || entry['rateLimits'] === undefined ? undefined : parseRateLimitsRecord(entry['rateLimits']);
  if (rateLimits === undefined && entry['rateLimits'] !== null && entry['rateLimits'] !== undefined) return undefined;
  return {
    directory: entry['directory'],
    state: {
      budget: parseBudgetState(entry['budget']),
      rateLimits,
      health: { downSince: parseTime(entry['downSince']), lastFailureAt: parseTime(entry['lastFailureAt']) },
    },
  };
}

export function parseRateLimitsRecord(value: unknown): RateLimits | undefined {
  if (!isObject(value) || typeof value['source'] !== 'string') return undefined;
  if (value['limits'] === null) return { source: value['source'], limits: undefined };
  try {
    return { source: value['source'], limits: parseLimits(value['limits'], 'rateLimits') };
  } catch {
    return undefined;
  }
}

export function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t : undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
