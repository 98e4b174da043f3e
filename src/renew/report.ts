/** What `marathon-acme renew` prints, and its exit code. Pure. */
import { describeProblem } from '../certs/plan.js';
import type { RenewOutcome } from './protocol.js';

const LABELS: Record<RenewOutcome['outcome'], string> = {
  renewed: 'renewed',
  failed: 'failed',
  'not-managed': 'not managed',
};

/** One line per name: what became of it, and what comes next. */
export function formatOutcomes(outcomes: readonly RenewOutcome[]): string {
  const labelWidth = Math.max(0, ...outcomes.map((o) => LABELS[o.outcome].length));
  const nameWidth = Math.max(0, ...outcomes.map((o) => o.name.length));
  return outcomes
    .map((o) => `${LABELS[o.outcome].padEnd(labelWidth)}  ${o.name.padEnd(nameWidth)}  ${detail(o)}`.trimEnd())
    .map((line) => `${line}\n`)
    .join('');
}

/** 0 when every name was renewed; 1 when any failed; 2 when a name has no stored certificate. */
export function outcomeExitCode(outcomes: readonly RenewOutcome[]): number {
  if (outcomes.some((o) => o.outcome === 'failed')) return 1;
  if (outcomes.some((o) => o.outcome === 'not-managed')) return 2;
  return 0;
}

/** 2026-03-01T10:00:00Z: the one date format of `status` and /status. */
export function isoSeconds(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function detail(o: RenewOutcome): string {
  if (o.outcome === 'renewed') return o.notAfter === undefined ? '' : `valid until ${isoSeconds(o.notAfter)}`;
  if (o.outcome === 'not-managed') return 'no certificate by that name in certs/';
  const next = o.retryAt === undefined ? '' : ` (next automatic attempt after ${isoSeconds(o.retryAt)})`;
  return `${describeProblem(o.problem)}${next}`;
}
