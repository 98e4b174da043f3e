/**
 * Rows for names that have no certificate file: wanted by an app and not issued yet (`pending`), or
 * recorded in state.json as failing (`failing`, with the CA's or the preflight's reason and the next
 * attempt). Without these a daemon whose every order fails shows an empty, all-green status. Pure.
 */
import { describeProblem } from '../certs/plan.js';
import type { DaemonState, FailureState } from '../state/state.js';
import type { StatusRow } from './report.js';
import { failureNote, iso } from './wording.js';

/** A certificate an app port wants, as the daemon's last sync selected it (src/marathon/apps.ts WantedName). */
export interface WantedCertificate {
  /** The primary name: the certificate's file name once issued. */
  name: string;
  appId: string;
  portIndex: number;
  /** Every name of the certificate, the primary first, when it has more than one. */
  sans?: readonly string[] | undefined;
}

export interface RowWithoutFile {
  row: StatusRow;
  /** False for a failure state.json still records for a name no app wanted at the last sync. */
  wanted: boolean;
}

/**
 * `filed`: the names that have a file in certs/ (their rows come from the file). `wanted` undefined
 * means it is not known (offline): then every name state.json records as failing is shown.
 */
export function rowsWithoutFile(
  filed: ReadonlySet<string>,
  wanted: readonly WantedCertificate[] | undefined,
  state: DaemonState | undefined,
  now: number,
): RowWithoutFile[] {
  const out: RowWithoutFile[] = [];
  const shown = new Set<string>();
  const failureOf = (name: string): FailureState | undefined => state?.certificates.get(name)?.failure;
  /** A secondary name of a wanted certificate → that certificate. */
  const secondary = new Map<string, WantedCertificate>();
  for (const w of wanted ?? []) {
    for (const n of w.sans ?? []) if (n !== w.name && !secondary.has(n)) secondary.set(n, w);
    if (filed.has(w.name) || shown.has(w.name)) continue;
    shown.add(w.name);
    const failure = failureOf(w.name);
    const owner = { appId: w.appId, portIndex: w.portIndex };
    const names = [...(w.sans ?? [w.name])];
    if (failure === undefined) {
      const reason = `no certificate yet: ${w.appId} port ${w.portIndex} wants it (the daemon's last sync); its first order is under way or due at the next sync`;
      out.push({ row: unfiled(w.name, names, 'pending', reason, owner, undefined), wanted: true });
    } else {
      out.push({ row: unfiled(w.name, names, 'failing', `no certificate yet: issuing it failed${failureNote(failure, now)}`, owner, failure), wanted: true });
    }
  }
  for (const [name, cert] of state?.certificates ?? []) {
    const failure = cert.failure;
    if (failure === undefined || filed.has(name) || shown.has(name)) continue;
    shown.add(name);
    const note = failureNote(failure, now);
    const primary = secondary.get(name);
    if (wanted === undefined) {
      out.push({ row: unfiled(name, [name], 'failing', `no certificate file: issuing it failed${note}`, cert.owner, failure), wanted: true });
    } else if (primary !== undefined) {
      const reason = `a name of the certificate for ${primary.name}, which is issued without it until it validates${note}`;
      out.push({ row: unfiled(name, [name], 'failing', reason, { appId: primary.appId, portIndex: primary.portIndex }, failure), wanted: true });
    } else {
      const reason = `no certificate file: issuing it failed${note}; no app wanted it at the daemon's last sync, so it is not ordered again unless one does`;
      out.push({ row: unfiled(name, [name], 'failing', reason, cert.owner, failure), wanted: false });
    }
  }
  return out;
}

function unfiled(
  name: string,
  names: string[],
  state: 'pending' | 'failing',
  reason: string,
  owner: { appId: string; portIndex: number } | undefined,
  failure: FailureState | undefined,
): StatusRow {
  return {
    name,
    names,
    state,
    reason,
    location: null,
    file: null,
    appId: owner?.appId ?? null,
    portIndex: owner?.portIndex ?? null,
    issuer: null,
    issuerDn: null,
    ca: null,
    keyType: null,
    serial: null,
    notBefore: null,
    notAfter: null,
    daysLeft: null,
    nextRenewalAt: null,
    lastError: failure === undefined ? null : describeProblem(failure.lastError),
    failures: failure?.failures ?? null,
    nextAttemptAt: failure === undefined ? null : iso(failure.nextAttemptAt),
    delivery: [],
  };
}
