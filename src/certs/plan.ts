/**
 * The daemon's decisions, as pure functions of data: which names need a certificate now, which stored
 * certificates are due for renewal, and how long to wait after a failure. No I/O, no clock reads.
 */
import type { WantedName } from '../marathon/apps.js';
import type { AcmeProblem, FailureState } from '../state/state.js';
import { lifetimeRenewalTime } from './renewal-schedule.js';

export interface CertSummary {
  /** The name its file in certs/ serves (the file name without `.pem`, in lower case): the certificate's primary name. */
  name: string;
  names: readonly string[];
  notBefore: number;
  notAfter: number;
  /** Tells one issued certificate from the next (a stored renewal decision belongs to one serial). */
  serialHex?: string | undefined;
  /** The RFC 9773 certificate ID, when the certificate has what it takes (an AKI). */
  ariCertId?: string | undefined;
  /** SHA-256 of the leaf's DER, lower-case hex without colons: what the delivery check compares. */
  fingerprint256?: string | undefined;
}

export type FailureRecord = FailureState;

export type FailureMemory = ReadonlyMap<string, FailureRecord>;

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/**
 * Wait after the n-th consecutive failure: 1 min, 10 min, 100 min, then once a day. Front-loaded so a
 * passing glitch heals fast, then slow enough that a name that cannot validate does not eat into the
 * CA's failed-validation limit.
 */
export function failureBackoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return failures >= 4 ? DAY : MINUTE * 10 ** (failures - 1);
}

/**
 * The failure memory after one more failure. A CA that said how long to wait (Retry-After on a
 * rateLimited answer or a 503) is obeyed when that is longer than our own backoff.
 */
export function recordFailure(
  previous: FailureRecord | undefined,
  problem: AcmeProblem,
  retryAfterMs: number | undefined,
  now: number,
): FailureRecord {
  const failures = (previous?.failures ?? 0) + 1;
  let wait = failureBackoffMs(failures);
  if (caAskedToWait(problem) && retryAfterMs !== undefined) wait = Math.max(wait, retryAfterMs);
  return { failures, lastError: problem, nextAttemptAt: now + wait, lastFailureAt: now };
}

/** A rate limit or an overloaded CA: an answer that asks the client to wait, not to try again now. */
export function caAskedToWait(problem: AcmeProblem): boolean {
  return problem.type === 'rateLimited' || problem.status === 503 || problem.status === 429;
}

export interface Deferred {
  name: string;
  until: number;
  lastError: string;
}

export interface PlannedOrder {
  wanted: WantedName;
  /** All names of the certificate to order, primary first. */
  names: string[];
  reason: 'new' | 'names changed';
}

export interface IssuePlan {
  /** Certificates to order now, first occurrence of each primary name kept. */
  issue: PlannedOrder[];
  /** Certificates that would be ordered but are waiting out a failure backoff. */
  deferred: Deferred[];
}

/**
 * A stored certificate serves a wanted one when it covers the wanted names; in `san` mode (where
 * `sans` is set) the sets must be equal, so that a name removed from a label leaves the certificate.
 */
export function storedServes(stored: Pick<CertSummary, 'names'>, wanted: WantedName): boolean {
  return wanted.sans === undefined ? stored.names.includes(wanted.name) : sameNameSet(stored.names, wanted.sans);
}

/** Whether two lists hold the same names, whatever their order and repeats. */
export function sameNameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((n) => set.has(n));
}

export function planIssuance(
  wanted: readonly WantedName[],
  stored: ReadonlyMap<string, Pick<CertSummary, 'names'>>,
  failures: FailureMemory,
  now: number,
): IssuePlan {
  const issue: PlannedOrder[] = [];
  const deferred: Deferred[] = [];
  const seen = new Set<string>();
  for (const w of wanted) {
    if (seen.has(w.name)) continue;
    seen.add(w.name);
    const current = stored.get(w.name);
    if (current !== undefined && storedServes(current, w)) continue;
    const failure = failures.get(w.name);
    if (failure !== undefined && failure.nextAttemptAt > now) {
      deferred.push({ name: w.name, until: failure.nextAttemptAt, lastError: describeProblem(failure.lastError) });
    } else {
      issue.push({ wanted: w, names: [...(w.sans ?? [w.name])], reason: current === undefined ? 'new' : 'names changed' });
    }
  }
  return { issue, deferred };
}

export interface RenewalPlan {
  renew: CertSummary[];
  deferred: Deferred[];
}

/**
 * Certificates due now: at their scheduled renewal time (from the CA's ARI window or the lifetime
 * rule, see renewal-schedule.ts), or a third of their lifetime before expiry when none is scheduled.
 */
export function planRenewals(
  stored: readonly CertSummary[],
  failures: FailureMemory,
  now: number,
  schedule: ReadonlyMap<string, number> = new Map(),
): RenewalPlan {
  const renew: CertSummary[] = [];
  const deferred: Deferred[] = [];
  for (const cert of stored) {
    if (now < (schedule.get(cert.name) ?? lifetimeRenewalTime(cert))) continue;
    const failure = failures.get(cert.name);
    if (failure !== undefined && failure.nextAttemptAt > now) {
      deferred.push({ name: cert.name, until: failure.nextAttemptAt, lastError: describeProblem(failure.lastError) });
    } else {
      renew.push(cert);
    }
  }
  // Most urgent first, so a limited concurrency budget goes where expiry is nearest.
  renew.sort((a, b) => a.notAfter - b.notAfter);
  return { renew, deferred };
}

/** The names to renew a stored certificate for: its file name first, then its other SANs. */
export function renewalNames(cert: CertSummary): string[] {
  return [cert.name, ...cert.names.filter((n) => n !== cert.name)];
}

/** `rateLimited: too many certificates...` or just the detail when the CA gave no type. */
export function describeProblem(problem: AcmeProblem): string {
  return problem.type === undefined ? problem.detail : `${problem.type}: ${problem.detail}`;
}

export interface RetirementPlan {
  /** Managed certificates wanted now, or first seen unwanted now: their "last wanted" time becomes now. */
  touch: string[];
  /** Managed certificates no app has wanted for the whole grace period. */
  retire: string[];
}

/**
 * Which managed certificates to take out of service. A certificate is wanted when some wanted entry
 * has its name as primary name (its file name). One not wanted is
 * only retired after `graceMs` without being wanted, counted from the last sync that wanted it, or
 * from the first sync that noticed it unwanted when nothing is remembered (adopted or upgraded
 * directories). The grace is what protects against a Marathon that answers with an empty or partial
 * app list for a while. `graceMs` 0 disables retirement.
 */
export function planRetirement(
  managed: ReadonlyMap<string, Pick<CertSummary, 'names'>>,
  wanted: readonly WantedName[],
  lastWanted: ReadonlyMap<string, number>,
  now: number,
  graceMs: number,
): RetirementPlan {
  const primaries = new Set(wanted.map((w) => w.name));
  const touch: string[] = [];
  const retire: string[] = [];
  for (const name of managed.keys()) {
    const last = lastWanted.get(name);
    if (primaries.has(name) || last === undefined) {
      touch.push(name);
    } else if (graceMs > 0 && now - last >= graceMs) {
      retire.push(name);
    }
  }
  return { touch, retire };
}
