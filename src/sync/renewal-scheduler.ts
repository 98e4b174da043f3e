/**
 * When each stored certificate is to be renewed: decided once per certificate and kept in state.json,
 * from the CA's ARI window (RFC 9773) when it offers one, else from the lifetime rule.
 */
import { AriError, type RenewalInfo, type RenewalWindow } from '../acme/ari.js';
import type { CertSummary } from '../certs/plan.js';
import { decideRenewalTime, isEmergency, nextAriPoll } from '../certs/renewal-schedule.js';
import type { Logger } from '../log.js';
import type { DaemonState, RenewalState } from '../state/state.js';
import type { Clock } from '../util/clock.js';

const HOUR = 3_600_000;

export interface RenewalSchedulerOptions {
  state: DaemonState;
  clock: Clock;
  logger: Logger;
  /** Draws renewal times inside ARI windows. */
  random: () => number;
}

/**
 * The CA that issued a certificate, when it offers ARI: its renewal window for a certificate ID
 * (RFC 9773), rejecting with AriError.
 */
export type RenewalInfoSource = (certId: string) => Promise<RenewalInfo>;

export class RenewalScheduler {
  constructor(private readonly options: RenewalSchedulerOptions) {}

  /**
   * The renewal time of one certificate: kept from before when it is for the same certificate and the
   * CA's window did not change, otherwise decided anew. ARI is asked only when its Retry-After has
   * passed; when it cannot answer, the decision falls back to the lifetime rule.
   */
  async schedule(cert: CertSummary, renewalInfo: RenewalInfoSource | undefined): Promise<RenewalState> {
    const { state, clock, logger } = this.options;
    const now = clock.now();
    const entry = state.certificates.get(cert.name);
    const serial = cert.serialHex ?? '';
    let current = entry?.renewal?.serial === serial ? entry.renewal : undefined;
    const decide = (window: RenewalWindow | undefined): RenewalState => {
      const d = decideRenewalTime({ notBefore: cert.notBefore, notAfter: cert.notAfter, now, ari: window === undefined ? undefined : { window }, random: this.options.random });
      return { serial, renewAt: d.renewAt, source: d.source, reason: d.reason, window };
    };
    if (renewalInfo !== undefined && cert.ariCertId !== undefined && (current?.ariNextPollAt ?? 0) <= now) {
      try {
        const info = await renewalInfo(cert.ariCertId);
        const sameWindow = current?.window?.start === info.window.start && current.window.end === info.window.end;
        const next = sameWindow && current !== undefined ? current : decide(info.window);
        if (!sameWindow) {
          logger.info(
            { domain: cert.name, windowStart: new Date(info.window.start).toISOString(), windowEnd: new Date(info.window.end).toISOString(), renewAt: new Date(next.renewAt).toISOString(), explanationUrl: info.explanationUrl },
            'renewal window from the CA (ARI)',
          );
        }
        current = { ...next, ariNextPollAt: nextAriPoll(now, info.retryAfterMs, cert.notAfter), explanationUrl: info.explanationUrl };
      } catch (err) {
        // RFC 9773: retry soon after a passing failure (no answer, 5xx), in six hours after others.
        const status = err instanceof AriError ? err.status : undefined;
        const wait = (err instanceof AriError ? err.retryAfterMs : undefined) ?? (status === undefined || status >= 500 ? HOUR : 6 * HOUR);
        logger.warn({ domain: cert.name, err: err instanceof Error ? err.message : String(err), retryInMs: wait }, 'asking the CA for the renewal window (ARI) failed; the lifetime rule applies meanwhile');
        current = { ...(current ?? decide(undefined)), ariNextPollAt: now + wait };
      }
    }
    current ??= decide(undefined);
    // Close to expiry the stored time no longer matters: renew now, whatever the window said.
    if (isEmergency(cert, now) && current.source !== 'emergency') {
      current = { ...current, renewAt: now, source: 'emergency', reason: 'less than 1/20 of the lifetime left' };
    }
    if (entry?.renewal !== current) state.certificates.set(cert.name, { ...entry, renewal: current });
    return current;
  }}
