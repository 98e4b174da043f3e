/**
 * `marathon-acme plan`: what a sync and a renewal check would do right now, with the reason for each
 * line. Pure: it combines the same decision functions the daemon uses, so the plan cannot drift from
 * what the daemon really does.
 */
import {
  planIssuance,
  planRenewals,
  planRetirement,
  type CertSummary,
  type FailureMemory,
} from '../certs/plan.js';
import { lifetimeRenewalTime } from '../certs/renewal-schedule.js';
import type { AppWarning, WantedName } from '../marathon/apps.js';

export type PlanAction = 'create' | 'issue' | 'renew' | 'retire' | 'keep' | 'wait' | 'skip' | 'replace';

/** Something start-up would create in the storage directory (it is missing now). */
export interface SetupStep {
  /** The path relative to the storage directory. */
  subject: string;
  reason: string;
}

export interface PlanLine {
  action: PlanAction;
  /** The certificate's primary name, or the app id for skipped apps. */
  subject: string;
  reason: string;
}

export interface PlanInput {
  /** What start-up would create first; empty once the daemon has run on the directory. */
  setup?: readonly SetupStep[];
  wanted: readonly WantedName[];
  warnings: readonly AppWarning[];
  managed: ReadonlyMap<string, CertSummary>;
  corrupt: ReadonlyArray<{ name: string; reason: string }>;
  /** Files in certs/ serving the same name as the file kept for it (see file-names.ts). */
  duplicates?: ReadonlyArray<{ name: string; file: string; kept: string }>;
  failures: FailureMemory;
  lastWanted: ReadonlyMap<string, number>;
  /** Renewal times already decided (from the CA's ARI window or the lifetime rule). */
  schedule: ReadonlyMap<string, number>;
  now: number;
  retireAfterMs: number;
}

const iso = (t: number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function buildPlan(input: PlanInput): PlanLine[] {
  const { wanted, managed, failures, now } = input;
  const lines: PlanLine[] = (input.setup ?? []).map((step) => ({ action: 'create', subject: step.subject, reason: step.reason }));
  for (const bad of input.corrupt) {
    lines.push({ action: 'replace', subject: bad.name, reason: `the file in certs/ is unusable (${bad.reason}); it would be moved to corrupt-certs/` });
  }
  for (const extra of input.duplicates ?? []) {
    lines.push({
      action: 'retire',
      subject: extra.name,
      reason: `certs/${extra.file}.pem serves the same name as certs/${extra.kept}.pem (HAProxy would present either); the one that expires last stays, this one would be moved to retired-certs/`,
    });
  }
  const issuance = planIssuance(wanted, managed, failures, now);
  for (const order of issuance.issue) {
    const where = `app ${order.wanted.appId} port ${order.wanted.portIndex}`;
    lines.push({
      action: 'issue',
      subject: order.wanted.name,
      reason: `${order.reason === 'new' ? 'no certificate yet' : 'the names changed'}: ${order.names.join(', ')} for ${where}`,
    });
  }
  for (const d of issuance.deferred) {
    lines.push({ action: 'wait', subject: d.name, reason: `not before ${iso(d.until)} after a failure: ${d.lastError}` });
  }

  const renewals = planRenewals([...managed.values()], failures, now, input.schedule);
  const renewing = new Set(renewals.renew.map((c) => c.name));
  for (const cert of renewals.renew) {
    const scheduled = input.schedule.get(cert.name);
    lines.push({
      action: 'renew',
      subject: cert.name,
      reason: scheduled === undefined ? `less than a third of its lifetime left (expires ${iso(cert.notAfter)})` : `its renewal time ${iso(scheduled)} has come (expires ${iso(cert.notAfter)})`,
    });
  }
  for (const d of renewals.deferred) {
    renewing.add(d.name);
    lines.push({ action: 'wait', subject: d.name, reason: `renewal due, but not before ${iso(d.until)} after a failure: ${d.lastError}` });
  }

  const retirement = planRetirement(managed, wanted, input.lastWanted, now, input.retireAfterMs);
  const retiring = new Set(retirement.retire);
  for (const name of retirement.retire) {
    const last = input.lastWanted.get(name);
    lines.push({ action: 'retire', subject: name, reason: `no app has wanted it since ${last === undefined ? 'ever' : iso(last)}` });
  }
  const primaries = new Set(wanted.map((w) => w.name));
  for (const cert of managed.values()) {
    if (renewing.has(cert.name) || retiring.has(cert.name)) continue;
    const renewAt = `valid until ${iso(cert.notAfter)}, renewal from ${iso(input.schedule.get(cert.name) ?? lifetimeRenewalTime(cert))}`;
    if (primaries.has(cert.name)) {
      lines.push({ action: 'keep', subject: cert.name, reason: renewAt });
      continue;
    }
    const last = input.lastWanted.get(cert.name);
    const retireNote =
      input.retireAfterMs === 0
        ? 'retirement is off'
        : last === undefined
          ? `would retire ${Math.round(input.retireAfterMs / 86_400_000)} days after this sync`
          : `would retire at ${iso(last + input.retireAfterMs)}`;
    lines.push({ action: 'keep', subject: cert.name, reason: `no app wants it (${retireNote}); ${renewAt}` });
  }
  for (const w of input.warnings) lines.push({ action: 'skip', subject: w.appId, reason: w.message });
  return lines;
}

export function formatPlan(lines: readonly PlanLine[]): string {
  if (lines.length === 0) return 'nothing to do: no app wants a certificate and none is stored\n';
  const width = Math.max(...lines.map((l) => l.subject.length));
  return lines.map((l) => `${l.action.padEnd(7)} ${l.subject.padEnd(width)}  ${l.reason}\n`).join('');
}
