/**
 * One line per load balancer for /status, /status.json and the metrics: how its certificates are
 * served and whether it is owed a signal. Pure.
 */
import type { LinkState } from '../lb/lb-link.js';
import type { DeliveryRecord } from './types.js';

export type LbLevel = 'ok' | 'warn' | 'bad';

export interface LbSummary {
  lb: string;
  level: LbLevel;
  summary: string;
  /** A signal is owed to it, or its reload has not shown yet. */
  pendingSignal: boolean;
  served: number;
  stale: number;
  other: number;
  unreachable: number;
  /** Pairs whose delivery failed (stale or other past the grace); each also counts under its status. */
  failing: number;
}

export function summariseLb(lb: string, records: readonly DeliveryRecord[], link: LinkState | undefined, checkOn: boolean): LbSummary {
  const counts = { served: 0, stale: 0, other: 0, unreachable: 0, unchecked: 0, failing: 0 };
  for (const r of records) {
    if (r.lb !== lb) continue;
    counts[r.status]++;
    if (r.failing) counts.failing++;
  }
  const pendingSignal = link?.pending ?? false;
  const signalFailing = link?.lastResult !== undefined && !link.lastResult.ok;
  const parts: string[] = [];
  if (signalFailing) parts.push(`signal refused or unanswered (${link.lastResult?.error ?? 'unknown error'}); retrying`);
  if (link?.awaitingHealth === true) parts.push('waiting for its health endpoint before signalling');
  else if (pendingSignal && !signalFailing) parts.push('reload signalled; waiting for it to show');
  if (link?.undelivered === true && !pendingSignal) parts.push('the last reload signalled never showed');
  if (checkOn) parts.push(describeCounts(counts));
  else parts.push(link?.lastResult?.ok === true ? `delivery check off; last signal accepted ${new Date(link.lastResult.at).toISOString()}` : 'delivery check off');

  const wrong = counts.stale + counts.other;
  let level: LbLevel = 'ok';
  if (counts.failing > 0 || signalFailing || (link?.undelivered === true && !pendingSignal)) level = 'bad';
  else if (pendingSignal || wrong > 0 || counts.unreachable > 0) level = 'warn';
  return {
    lb,
    level,
    summary: parts.join('; '),
    pendingSignal,
    served: counts.served,
    stale: counts.stale,
    other: counts.other,
    unreachable: counts.unreachable,
    failing: counts.failing,
  };
}

function describeCounts(c: { served: number; stale: number; other: number; unreachable: number; unchecked: number; failing: number }): string {
  const total = c.served + c.stale + c.other + c.unreachable + c.unchecked;
  if (total === 0) return 'no certificates to check';
  if (c.served === total) return `all ${total} served`;
  const parts = [`${c.served} of ${total} served`];
  if (c.stale > 0) parts.push(`${c.stale} stale`);
  if (c.other > 0) parts.push(`${c.other} other`);
  if (c.unreachable > 0) parts.push(c.unreachable === total ? 'TLS port unreachable' : `${c.unreachable} unreachable`);
  if (c.unchecked > 0) parts.push(`${c.unchecked} not checked yet`);
  if (c.failing > 0) parts.push(`${c.failing} failing`);
  return parts.join(', ');
}
