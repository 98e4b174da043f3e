/**
 * What is wrong right now, as notifications see it: a pure function from a snapshot of the daemon's
 * knowledge to the set of active conditions. Each condition has a key that stays the same while the
 * thing it is about stays the same (a name, or a name on one LB), so that deduplication can tell "still
 * the same problem" from "a new one" however often it is fed.
 */
import type { DeliveryRecord, DeliveryStatus } from '../delivery/types.js';

/** Everything notifications look at, gathered by the daemon. Times are epoch ms. */
export interface NotifySnapshot {
  now: number;
  /** The certificates stored in certs/. */
  certificates: ReadonlyArray<{ name: string; appId: string | undefined; notBefore: number; notAfter: number }>;
  /** Names whose last issue or renewal attempts failed, with the count of failures in a row. */
  failures: ReadonlyArray<{
    name: string;
    kind: 'issue' | 'renew';
    failures: number;
    problem: { type: string | undefined; detail: string };
    nextAttemptAt: number;
    appId: string | undefined;
  }>;
  delivery: ReadonlyArray<DeliveryRecord>;
}

/**
 * - `issue-failing` / `renewal-failing`: the threshold of failures in a row was reached;
 * - `expiring`: less than a fifth of the stored certificate's lifetime is left (so its renewal, due
 *   with a third left, has not happened);
 * - `expired`: the stored certificate is past its notAfter;
 * - `delivery-failing`: an LB keeps serving something other than the stored certificate.
 */
export type ConditionKind = 'expired' | 'delivery-failing' | 'renewal-failing' | 'issue-failing' | 'expiring';

/** Most serious first: the order of the lines in a notification's text. */
export const CONDITION_KINDS: readonly ConditionKind[] = ['expired', 'delivery-failing', 'renewal-failing', 'issue-failing', 'expiring'];

export interface Condition {
  /**
   * Stable while the subject is the same: `failure:<name>`, `lifetime:<name>`, `delivery:<name>|<lb>`.
   * The kind is not part of it, so `expiring` turning into `expired` is a change of one condition.
   */
  key: string;
  kind: ConditionKind;
  name: string;
  appId: string | undefined;
  /** The LB (display URL, credentials masked) of a delivery failure. */
  lb: string | undefined;
  /** Failures in a row, for the failing kinds. */
  failures: number | undefined;
  /** The CA's problem, for the failing kinds. */
  problem: { type: string | undefined; detail: string } | undefined;
  nextAttemptAt: number | undefined;
  /** The stored certificate's expiry, whenever one is stored for the name. */
  notAfter: number | undefined;
  /** What the LB served instead, for `delivery-failing`. */
  delivery: { status: DeliveryStatus; detail: string | undefined; lastServedAt: number | undefined } | undefined;
}

export interface ConditionOptions {
  /** Failures in a row from which an issue or renewal is reported (at least 1). */
  failureThreshold: number;
}

/** A certificate is reported as expiring once less than this share of its lifetime is left. */
export const EXPIRING_SHARE = 1 / 5;

/** The active conditions by key. Pure; later entries for the same subject replace earlier ones. */
export function activeConditions(snapshot: NotifySnapshot, options: ConditionOptions): Map<string, Condition> {
  const { now } = snapshot;
  const conditions = new Map<string, Condition>();
  const stored = new Map<string, NotifySnapshot['certificates'][number]>();
  for (const cert of snapshot.certificates) stored.set(cert.name, cert);

  for (const f of snapshot.failures) {
    if (f.failures < options.failureThreshold) continue;
    set(conditions, {
      key: `failure:${f.name}`,
      kind: f.kind === 'issue' ? 'issue-failing' : 'renewal-failing',
      name: f.name,
      appId: f.appId ?? stored.get(f.name)?.appId,
      lb: undefined,
      failures: f.failures,
      problem: { type: f.problem.type, detail: f.problem.detail },
      nextAttemptAt: f.nextAttemptAt,
      notAfter: stored.get(f.name)?.notAfter,
      delivery: undefined,
    });
  }

  for (const cert of stored.values()) {
    const kind = lifetimeKind(cert.notBefore, cert.notAfter, now);
    if (kind === undefined) continue;
    set(conditions, {
      key: `lifetime:${cert.name}`,
      kind,
      name: cert.name,
      appId: cert.appId,
      lb: undefined,
      failures: undefined,
      problem: undefined,
      nextAttemptAt: undefined,
      notAfter: cert.notAfter,
      delivery: undefined,
    });
  }

  for (const record of snapshot.delivery) {
    if (!record.failing) continue;
    set(conditions, {
      key: `delivery:${record.name}|${record.lb}`,
      kind: 'delivery-failing',
      name: record.name,
      appId: stored.get(record.name)?.appId,
      lb: record.lb,
      failures: undefined,
      problem: undefined,
      nextAttemptAt: undefined,
      notAfter: stored.get(record.name)?.notAfter,
      delivery: { status: record.status, detail: record.detail, lastServedAt: record.lastServedAt },
    });
  }
  return conditions;
}

/**
 * `expired` from notAfter on; `expiring` when less than a fifth of the lifetime is left. A
 * certificate whose notBefore is not before its notAfter has no lifetime to take a share of, so only
 * its expiry counts.
 */
export function lifetimeKind(notBefore: number, notAfter: number, now: number): 'expired' | 'expiring' | undefined {
  if (now >= notAfter) return 'expired';
  const lifetime = notAfter - notBefore;
  if (lifetime > 0 && notAfter - now < lifetime * EXPIRING_SHARE) return 'expiring';
  return undefined;
}

function set(conditions: Map<string, Condition>, condition: Condition): void {
  conditions.set(condition.key, condition);
}
