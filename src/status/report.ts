/**
 * `marathon-acme status` and `/status`: one row per certificate file and per wanted or failing name
 * without one, problems first, each with its state, the reason for it and what every marathon-lb
 * serves for it. Pure (the caller reads the files and supplies the time), and the rows are plain
 * JSON-ready data, so the offline command and the status page show the same rows.
 *
 * The renewal time is worked out with the daemon's own rule (renewal-schedule.ts) and the renewal time
 * it stored in state.json, so the state shown is the one the daemon acts on.
 */
import type { BundleResult } from '../certs/bundle.js';
import { describeProblem } from '../certs/plan.js';
import { isEmergency, lifetimeRenewalTime } from '../certs/renewal-schedule.js';
import type { CertState as StoredState, DaemonState } from '../state/state.js';
import { certificateFacts } from './certificate-facts.js';
import { DeliveryIndex, deliveryNote, type DeliveryInput, type RowDelivery } from './delivery-rows.js';
import { rowsWithoutFile, type WantedCertificate } from './wanted-rows.js';
import { DAY, failureNote, iso, when } from './wording.js';

/** The directories of the storage directory that hold certificates. */
export type StatusLocation = 'certs' | 'unmanaged-certs' | 'retired-certs';

/**
 * `pending`: an app wants the name and no certificate has been issued yet; `failing`: no certificate
 * file, and the last order for it failed. The others describe a certificate file.
 */
export type CertificateState = 'valid' | 'renew due' | 'expiring soon' | 'expired' | 'unusable' | 'retired' | 'unmanaged' | 'pending' | 'failing';

export const CERTIFICATE_STATES: readonly CertificateState[] = ['expired', 'failing', 'unusable', 'expiring soon', 'renew due', 'pending', 'valid', 'unmanaged', 'retired'];

export interface StoredFile {
  location: StatusLocation;
  /** Relative to the storage directory, e.g. `certs/shop.example.com.pem`. */
  file: string;
  /** The file name without `.pem`; in certs/ the name the file serves (in lower case), the certificate's primary name. */
  name: string;
  content: BundleResult;
}

export interface StatusInput {
  files: readonly StoredFile[];
  /** state.json as the daemon left it; undefined when there is none. */
  state: DaemonState | undefined;
  now: number;
  /**
   * The certificates apps want, from the daemon's last successful sync: each one without a file gets
   * a `pending` or `failing` row. Undefined when not known (offline): then the names state.json
   * records as failing get a row.
   */
  wanted?: readonly WantedCertificate[] | undefined;
  /** What the delivery check found; undefined when there is nothing to show (no check, no delivery.json). */
  delivery?: DeliveryInput | undefined;
}

/**
 * One certificate file, or one name without a file. Dates are ISO 8601 strings; what the data does
 * not tell is null. The keys come in the same order in every row.
 */
export interface StatusRow {
  /** The primary name: the file name in certs/, the first name of the certificate elsewhere. */
  name: string;
  /** Every name the certificate covers (wants, for a name without a file); empty when the file is unusable. */
  names: string[];
  state: CertificateState;
  reason: string;
  /** null for a name without a file (`pending`, `failing`). */
  location: StatusLocation | null;
  file: string | null;
  /** The app port the certificate was last issued for, when state.json knows it. */
  appId: string | null;
  portIndex: number | null;
  /** The issuer's CN and O, e.g. `R11 (Let's Encrypt)`. */
  issuer: string | null;
  /** The whole issuer DN, e.g. `C=US, O=Let's Encrypt, CN=R11`. */
  issuerDn: string | null;
  /** The ACME directory of the CA that issued it, when state.json knows (certificates issued before it was kept: null). */
  ca: string | null;
  /** e.g. `RSA 2048`, `ECDSA P-256`. */
  keyType: string | null;
  serial: string | null;
  notBefore: string | null;
  notAfter: string | null;
  /** Whole days until notAfter, rounded down: negative once it has expired. */
  daysLeft: number | null;
  /** When the daemon renews it (later than the renewal time while it waits out a failure). */
  nextRenewalAt: string | null;
  lastError: string | null;
  /** Failed orders in a row, from state.json; null while the last one succeeded. */
  failures: number | null;
  /** When the daemon orders it again after a failure; null without one. */
  nextAttemptAt: string | null;
  /** Per marathon-lb what it serves for this name: certificates in certs/ only, empty when the delivery check is off. */
  delivery: RowDelivery[];
}

export function buildStatus(input: StatusInput): StatusRow[] {
  const delivery = new DeliveryIndex(input.delivery);
  const wantedBy = new Map<string, WantedCertificate>();
  for (const w of input.wanted ?? []) if (!wantedBy.has(w.name)) wantedBy.set(w.name, w);
  const ranked = input.files.map((file) => {
    const row = describe(file, input, delivery, wantedBy);
    return { row, rank: rankOf(row, true), notAfter: row.notAfter === null ? Infinity : Date.parse(row.notAfter) };
  });
  const filed = new Set(input.files.filter((f) => f.location === 'certs').map((f) => f.name));
  for (const { row, wanted } of rowsWithoutFile(filed, input.wanted, input.state, input.now)) {
    // No file at all is as bad as an expired one: such names come first within their rank.
    ranked.push({ row, rank: rankOf(row, wanted), notAfter: -Infinity });
  }
  ranked.sort((a, b) => a.rank - b.rank || a.notAfter - b.notAfter || compare(a.row.name, b.row.name) || compare(a.row.file ?? '', b.row.file ?? ''));
  return ranked.map((r) => inFieldOrder(r.row));
}

/**
 * Problems first, worst first: expired; orders failing; delivery failures; unusable files; expiring
 * soon; renewal due; not issued yet; then the certificates that are fine; last what is not served
 * or wanted at all (retired files, failures of names no app wants any more).
 */
function rankOf(row: StatusRow, wanted: boolean): number {
  if (row.location === 'retired-certs' || !wanted) return 8;
  if (row.state === 'expired') return 0;
  if (row.state === 'failing' || row.failures !== null) return 1;
  if (row.delivery.some((d) => d.failing)) return 2;
  switch (row.state) {
    case 'unusable':
      return 3;
    case 'expiring soon':
      return 4;
    case 'renew due':
      return 5;
    case 'pending':
      return 6;
    default:
      return 7;
  }
}

/** The same key order in every row, so the JSON reads alike whatever the row's state. */
function inFieldOrder(r: StatusRow): StatusRow {
  return {
    name: r.name,
    names: r.names,
    state: r.state,
    reason: r.reason,
    location: r.location,
    file: r.file,
    appId: r.appId,
    portIndex: r.portIndex,
    issuer: r.issuer,
    issuerDn: r.issuerDn,
    ca: r.ca,
    keyType: r.keyType,
    serial: r.serial,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    daysLeft: r.daysLeft,
    nextRenewalAt: r.nextRenewalAt,
    lastError: r.lastError,
    failures: r.failures,
    nextAttemptAt: r.nextAttemptAt,
    delivery: r.delivery,
  };
}

function describe(file: StoredFile, input: StatusInput, index: DeliveryIndex, wantedBy: ReadonlyMap<string, WantedCertificate>): StatusRow {
  const { now } = input;
  // state.json speaks of the certificates in certs/; retired ones leave it, unmanaged ones never enter it.
  const stored = file.location === 'certs' ? input.state?.certificates.get(file.name) : undefined;
  const failure = stored?.failure;
  // The app port it was issued for, else (a certificate stored before owners were recorded) the one that wants it now.
  const owner = stored?.owner ?? (file.location === 'certs' ? wantedBy.get(file.name) : undefined);
  const base = {
    location: file.location,
    file: file.file,
    appId: owner?.appId ?? null,
    portIndex: owner?.portIndex ?? null,
    lastError: failure === undefined ? null : describeProblem(failure.lastError),
    failures: failure?.failures ?? null,
    nextAttemptAt: failure === undefined ? null : iso(failure.nextAttemptAt),
    // The check looks at the certificates in certs/, the ones the daemon signals the LBs for.
    delivery: file.location === 'certs' && file.content.ok ? index.forName(file.name) : [],
  };
  if (!file.content.ok) {
    const reason =
      file.location === 'certs'
        ? `${file.content.reason}; HAProxy cannot load it, and the daemon moves it to corrupt-certs/ when it starts or at its next renewal check`
        : file.content.reason;
    return {
      ...base,
      name: file.name,
      names: [],
      state: 'unusable',
      reason,
      issuer: null,
      issuerDn: null,
      ca: null,
      keyType: null,
      serial: null,
      notBefore: null,
      notAfter: null,
      daysLeft: null,
      nextRenewalAt: null,
    };
  }

  const { bundle } = file.content;
  const { leaf } = bundle;
  const notBefore = leaf.notBefore.getTime();
  const notAfter = leaf.notAfter.getTime();
  const { keyType, issuer } = certificateFacts(bundle.leafPem);
  // notAfter is the last moment of validity (RFC 5280 §4.1.2.5), so it expires just after.
  const expired = now > notAfter;
  const facts = {
    ...base,
    name: file.location === 'certs' ? file.name : (leaf.names[0] ?? file.name),
    names: [...leaf.names],
    issuer,
    issuerDn: leaf.issuer,
    // Retired and unmanaged files have no state.json entry, so this is the certificates in certs/ only.
    ca: stored?.issuedBy !== undefined && stored.issuedBy.serial === leaf.serialHex ? stored.issuedBy.directory : null,
    keyType,
    serial: leaf.serialHex,
    notBefore: iso(notBefore),
    notAfter: iso(notAfter),
    daysLeft: Math.floor((notAfter - now) / DAY),
  };

  if (file.location === 'retired-certs') {
    return { ...facts, state: 'retired', reason: 'moved out of certs/ because no app wanted it: not served, not renewed', nextRenewalAt: null };
  }
  if (file.location === 'unmanaged-certs') {
    const reason = `${expired ? `expired at ${when(notAfter)}; ` : ''}in unmanaged-certs/: managed by hand, never renewed by marathon-acme`;
    return { ...facts, state: expired ? 'expired' : 'unmanaged', reason, nextRenewalAt: null };
  }

  const renewal = renewalOf(stored, leaf.serialHex, { notBefore, notAfter }, now);
  const nextRenewalAt = Math.max(renewal.at, failure?.nextAttemptAt ?? -Infinity);
  const waiting = failureNote(failure, now);
  let state: CertificateState;
  let reason: string;
  if (expired) {
    state = 'expired';
    reason = `expired at ${when(notAfter)}; the daemon renews it at its next renewal check${waiting}`;
  } else if (isEmergency({ notBefore, notAfter }, now)) {
    state = 'expiring soon';
    reason = `less than 1/20 of its lifetime left: the daemon renews it at its next renewal check, whatever the CA's window says${waiting}`;
  } else if (now >= renewal.at) {
    state = 'renew due';
    reason = `renewal due since ${when(renewal.at)} (${renewal.why})${waiting === '' ? '; the daemon renews it at its next renewal check' : waiting}`;
  } else {
    state = 'valid';
    reason = `renewal from ${when(renewal.at)} (${renewal.why})${waiting}`;
  }
  return { ...facts, state, reason: reason + deliveryNote(base.delivery), nextRenewalAt: iso(nextRenewalAt) };
}

/**
 * The renewal time the daemon stored for this very certificate (a new certificate needs a new
 * decision), else the lifetime rule it would apply; close to expiry the daemon renews at once.
 */
function renewalOf(stored: StoredState | undefined, serial: string, lifetime: { notBefore: number; notAfter: number }, now: number): { at: number; why: string } {
  const decided = stored?.renewal?.serial === serial ? stored.renewal : undefined;
  const at = decided?.renewAt ?? lifetimeRenewalTime(lifetime);
  const why = decided?.reason ?? 'a third of the lifetime left';
  return { at: isEmergency(lifetime, now) ? Math.min(at, now) : at, why };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
