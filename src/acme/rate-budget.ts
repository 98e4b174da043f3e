/**
 * A client-side budget for Let's Encrypt's two limits that a burst of new apps can exhaust: new orders
 * per account and new certificates per registered domain. The daemon asks before every order and
 * records every order it placed, so even "every app asks at once" stays below the CA's limits and the
 * daemon never learns about them from a 429.
 *
 * Pure functions over a plain JSON-able state, so the caller can persist the ledger with its other
 * state and a restart does not forget what was already spent.
 *
 * Let's Encrypt implements the limits as token buckets that refill continuously (capacity C, one
 * token back every window/C). This module uses a sliding window of C events per window instead: any
 * sequence of events with at most C in every window also passes the bucket, so the window is the
 * conservative equivalent. It only ever answers "wait" later than the CA would, never earlier.
 */
import { getDomain } from 'tldts';

export interface BudgetLimits {
  ordersPerWindow: number;
  orderWindowMs: number;
  certsPerDomainPerWindow: number;
  domainWindowMs: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Let's Encrypt production: 300 new orders per account per 3 hours, 50 new certificates per
 * registered domain per 7 days. We plan with 90% of each (270 and 45): the per-domain limit is shared
 * by every account that issues for the domain (another team, a manual certbot run) and our ledger can
 * miss orders (a crash between order and record), so some headroom is left for what we cannot see.
 */
export const LETS_ENCRYPT_LIMITS: BudgetLimits = Object.freeze({
  ordersPerWindow: 270,
  orderWindowMs: 3 * HOUR,
  certsPerDomainPerWindow: 45,
  domainWindowMs: 7 * DAY,
});

/**
 * Let's Encrypt staging: 1,500 new orders per account per 3 hours and 30,000 new certificates per
 * registered domain per week; 90 % of each, as for production.
 */
export const LETS_ENCRYPT_STAGING_LIMITS: BudgetLimits = Object.freeze({
  ordersPerWindow: 1_350,
  orderWindowMs: 3 * HOUR,
  certsPerDomainPerWindow: 27_000,
  domainWindowMs: 7 * DAY,
});

export interface BudgetState {
  /** Epoch ms of past new orders, successful or not. */
  orders: number[];
  /** Registered domain → epoch ms of certificates issued that contain a name under it. */
  certs: Record<string, number[]>;
}

export type BudgetDecision = { allowed: true } | { allowed: false; retryAt: number; reason: string };

export function emptyBudget(): BudgetState {
  return { orders: [], certs: {} };
}

/**
 * The registered domain Let's Encrypt counts a name against: the public suffix list including its
 * private section (so `x.github.io` is a registered domain of its own). Names the list cannot place
 * (IP addresses, single labels, a bare public suffix) count on their own, normalised like tldts
 * normalises the others (lower case, no trailing dot) so that spellings of one name share a bucket.
 */
export function registeredDomain(name: string): string {
  return getDomain(name, { allowPrivateDomains: true }) ?? name.toLowerCase().replace(/\.$/, '');
}

/**
 * Whether an order for `names` fits the budget now. A new order needs one order slot and one
 * certificate slot in every registered domain among its names (LE checks all of them at new-order).
 *
 * `renewal: true` means "an order for exactly the same set of names as a certificate we already
 * have". Let's Encrypt exempts such orders from both limits modelled here: they neither check nor
 * spend new-orders-per-account or certificates-per-registered-domain. They remain subject to the
 * duplicate-certificate limit (5 per exact set per 7 days) and to authorization-failure limits, which
 * this budget does not model. A caller that is not sure the set is identical must pass false.
 */
export function checkBudget(
  state: BudgetState,
  names: readonly string[],
  now: number,
  limits: BudgetLimits,
  options?: { renewal?: boolean },
): BudgetDecision {
  validateLimits(limits);
  if (options?.renewal === true) return { allowed: true };

  const refusals: Array<{ retryAt: number; reason: string }> = [];
  const orderRetry = retryTime(state.orders, now, limits.ordersPerWindow, limits.orderWindowMs);
  if (orderRetry !== undefined) {
    refusals.push({
      retryAt: orderRetry,
      reason: `the new-order budget of ${limits.ordersPerWindow} per ${duration(limits.orderWindowMs)} is spent`,
    });
  }
  for (const domain of registeredDomains(names)) {
    const retry = retryTime(own(state.certs, domain) ?? [], now, limits.certsPerDomainPerWindow, limits.domainWindowMs);
    if (retry !== undefined) {
      refusals.push({
        retryAt: retry,
        reason: `the certificate budget of ${limits.certsPerDomainPerWindow} per ${duration(limits.domainWindowMs)} for ${domain} is spent`,
      });
    }
  }
  if (refusals.length === 0) return { allowed: true };
  // Like the CA, report the furthest reset: retrying earlier would only be refused again.
  const retryAt = Math.max(...refusals.map((r) => r.retryAt));
  const reason = `${refusals.map((r) => r.reason).join('; ')}; retry after ${new Date(retryAt).toISOString()}`;
  return { allowed: false, retryAt, reason };
}

/** How much of one limit is spent: checkBudget refuses once `used` reaches `limit`. */
export interface LimitUsage {
  used: number;
  limit: number;
  windowMs: number;
}

export interface BudgetUsage {
  newOrders: LimitUsage;
  /** `used` is the fullest registered domain's: the first one a burst of new names would exhaust. */
  certificatesPerDomain: LimitUsage & {
    /** Every registered domain with a certificate inside its window, fullest first. */
    byDomain: Array<{ domain: string; used: number }>;
  };
}

/**
 * What is spent of each limit at `now`, counted exactly as checkBudget counts (events stamped in the
 * future included), so that `used >= limit` is precisely when it refuses an order.
 */
export function budgetUsage(state: BudgetState, now: number, limits: BudgetLimits): BudgetUsage {
  validateLimits(limits);
  const byDomain = Object.entries(state.certs)
    .map(([domain, times]) => ({ domain, used: countInside(times, now, limits.domainWindowMs) }))
    .filter((d) => d.used > 0)
    .sort((a, b) => b.used - a.used || (a.domain < b.domain ? -1 : 1));
  return {
    newOrders: { used: countInside(state.orders, now, limits.orderWindowMs), limit: limits.ordersPerWindow, windowMs: limits.orderWindowMs },
    certificatesPerDomain: {
      used: byDomain[0]?.used ?? 0,
      limit: limits.certsPerDomainPerWindow,
      windowMs: limits.domainWindowMs,
      byDomain,
    },
  };
}

function countInside(times: readonly number[], now: number, windowMs: number): number {
  return times.filter((t) => t > now - windowMs).length;
}

/**
 * The state after an order placed at `now`. The order counts against the order limit whether or not
 * it yielded a certificate (LE spends at new-order); the certificate counts in each registered domain
 * only when issued (LE spends at issuance). Renewals spend nothing, see checkBudget. When the caller
 * does not say whether a certificate was issued, it is counted: over-counting only makes us wait
 * longer, under-counting could earn a 429. Entries that have left their window are dropped, and the
 * input state is left untouched.
 */
export function recordOrder(
  state: BudgetState,
  names: readonly string[],
  now: number,
  limits: BudgetLimits,
  options?: { renewal?: boolean; issued: boolean },
): BudgetState {
  validateLimits(limits);
  const orders = prune(state.orders, now, limits.orderWindowMs);
  const certs: Record<string, number[]> = {};
  for (const [domain, times] of Object.entries(state.certs)) {
    const kept = prune(times, now, limits.domainWindowMs);
    if (kept.length > 0) put(certs, domain, kept);
  }
  if (options?.renewal !== true) {
    orders.push(now);
    if (options?.issued ?? true) {
      for (const domain of registeredDomains(names)) {
        put(certs, domain, [...(own(certs, domain) ?? []), now]);
      }
    }
  }
  return { orders, certs };
}

/**
 * Takes back what `recordOrder(..., { issued: true })` spent at `at` for a certificate that was then
 * not issued, so that an order can reserve its slots before it is sent: orders in flight at the same
 * time then see each other, and the budget cannot be overshot by the number of concurrent orders.
 * `orderSent: false` also frees the order slot (the CA never saw the order); otherwise it stays spent,
 * as at Let's Encrypt. Removes one entry per slot, the one stamped `at`; the input state is untouched.
 */
export function releaseReservation(
  state: BudgetState,
  names: readonly string[],
  at: number,
  options: { orderSent: boolean },
): BudgetState {
  const orders = options.orderSent ? [...state.orders] : withoutOne(state.orders, at);
  const certs: Record<string, number[]> = {};
  const release = registeredDomains(names);
  for (const [domain, times] of Object.entries(state.certs)) {
    const kept = release.has(domain) ? withoutOne(times, at) : [...times];
    if (kept.length > 0) put(certs, domain, kept);
  }
  return { orders, certs };
}

function withoutOne(times: readonly number[], at: number): number[] {
  const i = times.lastIndexOf(at);
  return i === -1 ? [...times] : [...times.slice(0, i), ...times.slice(i + 1)];
}

/** Reads a persisted ledger. Anything unusable becomes an empty ledger rather than a start-up failure. */
export function parseBudgetState(json: unknown): BudgetState {
  if (!isRecord(json)) return emptyBudget();
  const orders = numbers(json['orders']);
  const certs: Record<string, number[]> = {};
  const rawCerts = json['certs'];
  if (isRecord(rawCerts)) {
    for (const [domain, times] of Object.entries(rawCerts)) {
      const kept = numbers(times);
      if (kept.length > 0) put(certs, domain, kept);
    }
  }
  return { orders, certs };
}

/**
 * When the window holds `limit` or more events at `now`, the moment enough of them have left it for
 * one more to fit; undefined when one more fits now. An event at t occupies [t, t + window). Events
 * stamped in the future (clock stepped back) count as inside the window, which errs on the safe side.
 */
function retryTime(times: readonly number[], now: number, limit: number, windowMs: number): number | undefined {
  const inside = times.filter((t) => t > now - windowMs).sort((a, b) => a - b);
  if (inside.length < limit) return undefined;
  // inside.length - limit + 1 events must leave; the last of them to leave is this one.
  const pivot = inside[inside.length - limit];
  return pivot === undefined ? undefined : pivot + windowMs;
}

function prune(times: readonly number[], now: number, windowMs: number): number[] {
  return times.filter((t) => t > now - windowMs);
}

function registeredDomains(names: readonly string[]): Set<string> {
  return new Set(names.map(registeredDomain));
}

function validateLimits(limits: BudgetLimits): void {
  const counts = [limits.ordersPerWindow, limits.certsPerDomainPerWindow];
  const windows = [limits.orderWindowMs, limits.domainWindowMs];
  // A zero limit would refuse forever with no time to retry at; that is a configuration error.
  if (!counts.every((n) => Number.isInteger(n) && n >= 1) || !windows.every((ms) => Number.isFinite(ms) && ms > 0)) {
    throw new RangeError('budget limits must be positive integers with positive windows');
  }
}

/*
 * Domain keys come from app labels and from a file on disk, so a key such as "constructor" or
 * "__proto__" must behave like any other: read own properties only, and define rather than assign.
 */
function own(record: Record<string, number[]>, key: string): number[] | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function put(record: Record<string, number[]>, key: string, value: number[]): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numbers(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

function duration(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY} d`;
  if (ms % HOUR === 0) return `${ms / HOUR} h`;
  return `${ms} ms`;
}
