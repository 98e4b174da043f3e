/**
 * WHEN to renew a certificate: the single place that decides it. Pure; the caller supplies the time
 * and the randomness.
 *
 * The chosen `renewAt` is meant to be stored (next to the certificate's ARI data) and reused until the
 * inputs change (a new ARI window, a new certificate). Drawing again on every check or restart would
 * turn the uniform choice inside the window into "the earliest of many draws", which piles renewals up
 * at the window's start: exactly the load spike ARI exists to spread out.
 */
import type { RenewalWindow } from '../acme/ari.js';

export interface ScheduleInput {
  notBefore: number;
  notAfter: number;
  now: number;
  /** The CA's current suggestion, when the CA offers ARI and the last fetch succeeded. */
  ari?: { window: RenewalWindow } | undefined;
  /** Uniform in [0, 1), like Math.random; injected so tests can pin it. */
  random: () => number;
}

export interface RenewalDecision {
  /** Epoch ms; at or before `now` means "renew now". */
  renewAt: number;
  source: 'ari' | 'lifetime' | 'emergency';
  /** One short sentence for logs. */
  reason: string;
}

/** Below this share of the lifetime left, no suggestion from the CA is worth the risk of waiting. */
const EMERGENCY_SHARE = 1 / 20;
/** Without ARI, renew with a third of the lifetime left (Let's Encrypt's guidance; CertMagic's ratio). */
const LIFETIME_SHARE = 1 / 3;

interface Lifetime {
  notBefore: number;
  notAfter: number;
}

/** When a third of the lifetime is left: the renewal time without (or before) word from the CA. */
export function lifetimeRenewalTime(cert: Lifetime): number {
  return cert.notAfter - Math.max(0, cert.notAfter - cert.notBefore) * LIFETIME_SHARE;
}

/** Less than 1/20 of the lifetime left: renew now, whatever was decided before. */
export function isEmergency(cert: Lifetime, now: number): boolean {
  return cert.notAfter - now < Math.max(0, cert.notAfter - cert.notBefore) * EMERGENCY_SHARE;
}

/**
 * Rules, in order:
 * 1. Less than 1/20 of the lifetime left: renew now, whatever ARI says. A CA whose window sits past
 *    expiry (a bug, a stale cache) must not let the certificate lapse; this matches CertMagic.
 * 2. A valid ARI window: a uniformly random instant in [start, end), as RFC 9773 recommends. A window
 *    already (partly) in the past can give a time in the past, which means renew now, also as the RFC
 *    says; the CA moves a window into the past to get certificates replaced before a revocation.
 * 3. Otherwise: with a third of the lifetime left. Proportional rather than "30 days before expiry"
 *    so 45-day and 6-day certificates are not renewed at every check.
 */
export function decideRenewalTime(input: ScheduleInput): RenewalDecision {
  const { notBefore, notAfter, now } = input;
  if (isEmergency({ notBefore, notAfter }, now)) {
    return { renewAt: now, source: 'emergency', reason: 'less than 1/20 of the lifetime left' };
  }
  const lifetimeDecision: RenewalDecision = {
    renewAt: lifetimeRenewalTime({ notBefore, notAfter }),
    source: 'lifetime',
    reason: 'a third of the lifetime left',
  };
  const window = input.ari?.window;
  if (window === undefined) return lifetimeDecision;
  const { start, end } = window;
  // parseRenewalInfo never yields such a window, but a stored one may be stale or hand-edited; RFC 9773
  // says to treat an invalid window like no answer, i.e. fall back.
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) {
    return { ...lifetimeDecision, reason: 'a third of the lifetime left (the stored ARI window is invalid)' };
  }
  const span = end - start;
  // Clamped so that a random source returning exactly 1 (or junk) still lands inside [start, end).
  const drawn = Math.floor(input.random() * span);
  const offset = Number.isFinite(drawn) ? Math.min(Math.max(drawn, 0), Math.max(0, Math.ceil(span) - 1)) : 0;
  const renewAt = start + offset;
  const when = `ARI window ${new Date(start).toISOString()} to ${new Date(end).toISOString()}`;
  return { renewAt, source: 'ari', reason: end <= now ? `${when} (already past: renew now)` : when };
}

/**
 * When to fetch renewalInfo again: after the (already clamped) Retry-After, or never once the
 * certificate has expired; RFC 9773 forbids polling for an expired certificate. The caller must also
 * stop polling once the certificate has been replaced, which this function cannot know.
 */
export function nextAriPoll(now: number, retryAfterMs: number, notAfter: number): number | undefined {
  if (now >= notAfter) return undefined;
  return now + retryAfterMs;
}
