/**
 * The few phrases every status row is written with (times, failed attempts), in one place so that a
 * certificate's row and a name without a certificate say the same thing the same way.
 */
import { describeProblem } from '../certs/plan.js';
import type { FailureState } from '../state/state.js';

export const DAY = 86_400_000;

/** The issuer and, when known, the CA's directory host: `R11 (Let's Encrypt) via acme-v02.api.letsencrypt.org`. */
export function issuedBy(issuer: string | null, ca: string | null): string | null {
  if (ca === null) return issuer;
  let host = ca;
  try {
    host = new URL(ca).host;
  } catch {
    // Shown as recorded.
  }
  return `${issuer ?? 'unknown issuer'} via ${host}`;
}

export const iso = (t: number): string => new Date(t).toISOString();

/** For reasons meant to be read: whole seconds are enough. */
export const when = (t: number): string => iso(t).replace(/\.\d{3}Z$/, 'Z');

/** `; 3 failed attempts, next attempt not before …: <the CA's or the preflight's problem>`; empty without a failure. */
export function failureNote(failure: FailureState | undefined, now: number): string {
  if (failure === undefined) return '';
  const attempts = failure.failures === 1 ? '1 failed attempt' : `${failure.failures} failed attempts`;
  const next = failure.nextAttemptAt > now ? `next attempt not before ${when(failure.nextAttemptAt)}` : 'tried again at the next check';
  return `; ${attempts}, ${next}: ${describeProblem(failure.lastError)}`;
}
