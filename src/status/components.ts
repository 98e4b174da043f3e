/**
 * The cards of the status view (Marathon, the ACME account, each marathon-lb): what the daemon
 * knows about each one, judged ok / warn / bad with a one-line summary. Pure, so the judgement is
 * testable without a running daemon.
 */
import type { ComponentState, LbStatus } from './page.js';

/** How the syncs with Marathon went, as the daemon records them (epoch ms). */
export interface SyncStatus {
  lastAttemptAt: number | undefined;
  lastSuccessAt: number | undefined;
  lastError: string | undefined;
}

/** The last reload signal a marathon-lb answered. */
export interface LbResult {
  ok: boolean;
  at: number;
  error: string | undefined;
}

/** Seconds-precision UTC, which is what a person reading a card needs. */
function when(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A sync that failed after the last success counts, even while the event stream is attached. */
export function marathonState(sync: SyncStatus, eventStream: string): ComponentState {
  const failedLast = sync.lastError !== undefined && (sync.lastSuccessAt === undefined || (sync.lastAttemptAt ?? 0) > sync.lastSuccessAt);
  if (failedLast) return { level: 'bad', summary: `last sync failed: ${sync.lastError ?? ''}` };
  if (sync.lastSuccessAt === undefined) return { level: 'warn', summary: 'no sync with Marathon has completed yet' };
  const attached = eventStream === 'attached';
  return { level: attached ? 'ok' : 'warn', summary: `last sync succeeded at ${when(sync.lastSuccessAt)}${attached ? '' : '; event stream not attached'}` };
}

export function accountState(ready: boolean, error: string | undefined): ComponentState {
  if (ready) return { level: 'ok', summary: 'registered' };
  return error === undefined ? { level: 'warn', summary: 'registering' } : { level: 'bad', summary: `not registered: ${error}` };
}

/**
 * `owed`: a reload is due and not yet accepted. `delivery`: the delivery check's summary for this LB
 * (src/delivery/lb-summary.ts), which knows the signal's state too, so with it `owed` adds nothing.
 * Green needs evidence that the LB is reachable (an accepted reload, a certificate seen served
 * there): an LB never reached is at least yellow.
 */
export function lbState(url: string, owed: boolean, last: LbResult | undefined, delivery?: LbDeliveryState): LbStatus {
  const reached = last?.ok === true || (delivery?.served ?? 0) > 0;
  const notReached = 'not reached yet: no reload was needed and no certificate was seen served there';
  if (delivery !== undefined) {
    if (delivery.level === 'ok' && !reached) return { url, level: 'warn', summary: `${notReached}; ${delivery.summary}` };
    return { url, level: delivery.level, summary: delivery.summary };
  }
  if (owed) return { url, level: 'bad', summary: `reload owed, retrying${last?.error === undefined ? '' : `: ${last.error}`}` };
  if (last === undefined) return { url, level: 'warn', summary: notReached };
  if (!last.ok) return { url, level: 'warn', summary: `last reload refused at ${when(last.at)}${last.error === undefined ? '' : `: ${last.error}`}` };
  return { url, level: 'ok', summary: `last reload accepted at ${when(last.at)}` };
}

/** The part of a delivery summary (src/delivery/lb-summary.ts LbSummary) an LB card is judged by. */
export interface LbDeliveryState extends ComponentState {
  served: number;
}
