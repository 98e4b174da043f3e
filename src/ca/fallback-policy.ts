/**
 * Which CA an order goes to when several are configured, and when a name whose order failed is tried
 * again. Pure: the state of each CA and of the name come in, a decision goes out.
 *
 * The primary is used whenever it can serve the name. An order moves to the next CA only for a
 * failure the primary will not fix soon: a rate limit (the CA's or our own budget for it) with a
 * wait longer than --fallback-after, the CA unreachable or answering 5xx for --fallback-after, or a
 * renewal close to expiry (the last tenth of the lifetime) that failed there. A failed validation
 * never moves an order: the route to us is broken, and any CA would fail the same way.
 */
import type { AcmeProblem, FailureState } from '../state/state.js';

/** What a failed order says about the CA it was sent to. */
export type FailureClass = 'validation' | 'rate-limited' | 'unavailable' | 'other';

/** Problem types that mean the CA could not validate the route to us (RFC 8555 §6.7, RFC 8659). */
const VALIDATION_PROBLEMS: ReadonlySet<string> = new Set(['unauthorized', 'connection', 'dns', 'incorrectResponse', 'caa', 'tls']);

export function classifyFailure(problem: AcmeProblem, transport: 'timeout' | 'network' | undefined): FailureClass {
  if (transport !== undefined) return 'unavailable';
  const type = problem.type;
  if (type !== undefined && (VALIDATION_PROBLEMS.has(type) || type.startsWith('preflight'))) return 'validation';
  if (type === 'rateLimited' || type === 'budget' || problem.status === 429) return 'rate-limited';
  if (type === 'serverInternal' || (problem.status !== undefined && problem.status >= 500)) return 'unavailable';
  return 'other';
}

/** How one CA has been answering, as the daemon remembers it (state.json). */
export interface CaHealth {
  /** Epoch ms of the first failure of the current run of unavailable answers; undefined: it answers. */
  downSince: number | undefined;
  /** Epoch ms of the latest unavailable answer. */
  lastFailureAt: number | undefined;
}

export interface CaView extends CaHealth {
  directory: string;
  /** An order sent to test whether the CA is back is still in flight (at most one at a time). */
  trialInFlight: boolean;
}

export interface ChoiceInput {
  /** Every configured CA, primary first. */
  cas: readonly CaView[];
  /** The name's last failure, when its last attempt failed. */
  failure: FailureState | undefined;
  /** For a renewal: the validity of the certificate being renewed. */
  validity?: { notBefore: number; notAfter: number } | undefined;
  now: number;
  fallbackAfterMs: number;
}

export interface CaChoice {
  directory: string;
  /** Sent to a CA counted as down, to learn whether it is back. */
  trial: boolean;
  /** Why a CA before it was passed over; undefined when it is the primary. */
  passedOver: string | undefined;
}

/** Counted as down: unavailable for at least --fallback-after. */
export function isDown(ca: CaHealth, now: number, fallbackAfterMs: number): boolean {
  return ca.downSince !== undefined && now - ca.downSince >= fallbackAfterMs;
}

/**
 * A CA counted as down gets one order every --fallback-after to learn whether it is back; the first a
 * whole --fallback-after after it was counted as down, so the orders that made it count as down are not
 * followed at once by another.
 */
export function trialDueAt(ca: CaHealth, fallbackAfterMs: number): number | undefined {
  if (ca.downSince === undefined) return undefined;
  const countedDownAt = ca.downSince + fallbackAfterMs;
  return Math.max(countedDownAt, ca.lastFailureAt ?? countedDownAt) + fallbackAfterMs;
}

/** Close to expiry: within the last tenth of the certificate's lifetime. */
export function isUrgent(validity: { notBefore: number; notAfter: number } | undefined, now: number): boolean {
  if (validity === undefined) return false;
  return now >= validity.notAfter - (validity.notAfter - validity.notBefore) / 10;
}

/** Why `ca` cannot take this order now, or undefined when it can. */
function refusal(ca: CaView, input: ChoiceInput): string | undefined {
  const { failure, now, fallbackAfterMs } = input;
  const waitUntil = failure?.caWaits?.[ca.directory];
  if (waitUntil !== undefined && waitUntil > now) return `rate limited there until ${new Date(waitUntil).toISOString()}`;
  if (isUrgent(input.validity, now) && failure?.directory === ca.directory && failure.kind !== 'validation') {
    return 'the renewal failed there and the certificate is in the last tenth of its lifetime';
  }
  if (isDown(ca, now, fallbackAfterMs)) {
    const trialAt = trialDueAt(ca, fallbackAfterMs) ?? now;
    if (ca.trialInFlight || trialAt > now) return `unavailable since ${new Date(ca.downSince ?? now).toISOString()}`;
  }
  return undefined;
}

/**
 * The first CA that can take the order. When none can, the first one the name is not rate limited
 * at (a CA counted as down may be back by now), else the primary.
 */
export function chooseCa(input: ChoiceInput): CaChoice {
  const { cas, now, fallbackAfterMs } = input;
  const primary = cas[0];
  if (primary === undefined) throw new Error('chooseCa needs at least one CA');
  const reasons: string[] = [];
  for (const ca of cas) {
    const why = refusal(ca, input);
    if (why === undefined) {
      return { directory: ca.directory, trial: isDown(ca, now, fallbackAfterMs), passedOver: reasons.length === 0 ? undefined : reasons.join('; ') };
    }
    reasons.push(`${ca.directory}: ${why}`);
  }
  const notWaited = cas.find((ca) => (input.failure?.caWaits?.[ca.directory] ?? 0) <= now) ?? primary;
  return { directory: notWaited.directory, trial: isDown(notWaited, now, fallbackAfterMs), passedOver: `every CA is unavailable (${reasons.join('; ')})` };
}

export interface FailureInput {
  /** The failure as recordFailure made it: counted, with its backoff and the CA's Retry-After applied. */
  record: FailureState;
  /** When the next attempt would be by our own backoff alone, without the CA's Retry-After. */
  backoffOnlyAt: number;
  /** The CA the order went to. */
  directory: string;
  kind: FailureClass;
  /** Until when that CA asked us (or our budget for it asks us) to wait, when it did. */
  waitUntil: number | undefined;
  /** Every CA, primary first, with their health after this failure. */
  cas: readonly CaView[];
  validity?: { notBefore: number; notAfter: number } | undefined;
  now: number;
  fallbackAfterMs: number;
}

/**
 * The name's failure record with where it failed, the CA waits still running, and the next attempt:
 * the earliest of when the same CA will take it again and when another CA would take it. Another CA
 * ignores the first one's Retry-After, and takes the name as soon as it would be chosen.
 */
export function recordCaFailure(input: FailureInput): FailureState {
  const { record, directory, kind, now, fallbackAfterMs } = input;
  const caWaits: Record<string, number> = {};
  for (const [dir, until] of Object.entries(record.caWaits ?? {})) if (until > now) caWaits[dir] = until;
  if (kind === 'rate-limited' && input.waitUntil !== undefined && input.waitUntil - now > fallbackAfterMs) caWaits[directory] = input.waitUntil;
  const updated: FailureState = { ...record, directory, kind, caWaits: Object.keys(caWaits).length === 0 ? undefined : caWaits };
  if (input.cas.length < 2) return updated;
  const moves = (at: number): boolean => chooseCa({ cas: input.cas, failure: updated, validity: input.validity, now: at, fallbackAfterMs }).directory !== directory;
  const failed = input.cas.find((ca) => ca.directory === directory);
  const candidates = [now, input.backoffOnlyAt];
  if (kind === 'unavailable' && failed?.downSince !== undefined) candidates.push(failed.downSince + fallbackAfterMs);
  const moveAt = candidates.filter((at) => at >= now && at < record.nextAttemptAt).sort((a, b) => a - b).find(moves);
  return moveAt === undefined ? updated : { ...updated, nextAttemptAt: moveAt };
}

/** The CA's health after an answer: an unavailable one starts or continues a run, any other ends it. */
export function nextHealth(health: CaHealth | undefined, kind: FailureClass | 'ok', now: number): CaHealth {
  if (kind !== 'unavailable') return { downSince: undefined, lastFailureAt: undefined };
  return { downSince: health?.downSince ?? now, lastFailureAt: now };
}
