/**
 * What /ready judges (and /health reports without judging): whether the daemon can do its whole
 * job, from facts the daemon records. Pure, so each rule is tested without a running daemon.
 *
 * Liveness is not decided here: /health answers 200 whenever the process can answer at all, since
 * a restart fixes none of these problems (Marathon away, the CA down, an LB serving an old
 * certificate) and would stop the challenge answers that are still being served.
 */
import type { HealthReport } from '../http/server.js';
import type { SyncStatus } from '../status/components.js';

export interface HealthInput {
  now: number;
  listening: boolean;
  accountReady: boolean;
  accountError: string | undefined;
  sync: SyncStatus;
  /** 0 when periodic syncs are off. */
  syncIntervalMs: number;
  eventStream: string;
  managedCertificates: number;
  /** marathon-lb instances still owed a reload (display URLs). */
  pendingLbSignals: number;
  /** (LB, name) pairs whose delivery failed: stale or other long after the signal. */
  deliveryFailures: number;
}

export function judgeHealth(input: HealthInput): HealthReport {
  const problems: string[] = [];
  const { sync: s, now, syncIntervalMs } = input;
  if (!input.listening) problems.push('not listening');
  if (!input.accountReady) {
    problems.push(input.accountError === undefined ? 'ACME account not registered yet' : `ACME account not registered: ${input.accountError}`);
  }
  if (s.lastSuccessAt === undefined) {
    problems.push(s.lastError === undefined ? 'no sync with Marathon has completed yet' : `last sync with Marathon failed: ${s.lastError}`);
  } else if (s.lastError !== undefined && (s.lastAttemptAt ?? 0) > s.lastSuccessAt) {
    problems.push(`last sync with Marathon failed: ${s.lastError}`);
  } else if (syncIntervalMs > 0 && now - s.lastSuccessAt > Math.max(3 * syncIntervalMs, 60_000)) {
    problems.push(`no successful sync with Marathon for ${Math.round((now - s.lastSuccessAt) / 1000)} s`);
  }
  // Judged: a delivery failure has outlasted the grace after its signal, so it is no passing state.
  // A signal still owed is only reported: one is owed for a few seconds after every issuance.
  if (input.deliveryFailures > 0) {
    problems.push(`${input.deliveryFailures} delivery failure${input.deliveryFailures === 1 ? '' : 's'}: a marathon-lb does not serve the stored certificate (see /status)`);
  }
  return {
    healthy: problems.length === 0,
    problems,
    details: {
      accountReady: input.accountReady,
      eventStream: input.eventStream,
      lastSyncAt: s.lastSuccessAt === undefined ? null : new Date(s.lastSuccessAt).toISOString(),
      managedCertificates: input.managedCertificates,
      pendingLbSignals: input.pendingLbSignals,
      deliveryFailures: input.deliveryFailures,
    },
  };
}
