/**
 * `marathon-acme status`: what is stored, one row per certificate file, most urgent first, each with
 * its state and the reason for it. Pure (the caller reads the files and supplies the time), and the
 * rows are plain JSON-ready data, so a status page can serve the same rows.
 *
 * The renewal time is worked out with the daemon's own rule (renewal-schedule.ts) and the renewal time
 * it stored in state.json, so the state shown is the one the daemon acts on.
 */
import { X509Certificate } from 'node:crypto';
import type { BundleResult } from '../certs/bundle.js';
import { describeProblem } from '../certs/plan.js';
import { isEmergency, lifetimeRenewalTime } from '../certs/renewal-schedule.js';
import type { CertState as StoredState, DaemonState, FailureState } from '../state/state.js';

/** The directories of the storage directory that hold certificates. */
export type StatusLocation = 'certs' | 'unmanaged-certs' | 'retired-certs';

export type CertificateState = 'valid' | 'renew due' | 'expiring soon' | 'expired' | 'unusable' | 'retired' | 'unmanaged';

export interface StoredFile {
  location: StatusLocation;
  /** Relative to the storage directory, e.g. `certs/shop.example.com.pem`. */
  file: string;
  /** The file name without `.pem`; in certs/ this is the certificate's primary name. */
  name: string;
  content: BundleResult;
}

export interface StatusInput {
  files: readonly StoredFile[];
  /** state.json as the daemon left it; undefined when there is none. */
  state: DaemonState | undefined;
  now: number;
}

/** One certificate file. Dates are ISO 8601 strings; what the data does not tell is null. */
export interface StatusRow {
  /** The primary name: the file name in certs/, the first name of the certificate elsewhere. */
  name: string;
  /** Every name the certificate covers (empty when the file is unusable). */
  names: string[];
  state: CertificateState;
  reason: string;
  location: StatusLocation;
  file: string;
  /** The app port the certificate was last issued for, when state.json knows it. */
  appId: string | null;
  portIndex: number | null;
  /** The issuer's CN and O, e.g. `R11 (Let's Encrypt)`. */
  issuer: string | null;
  /** The whole issuer DN, e.g. `C=US, O=Let's Encrypt, CN=R11`. */
  issuerDn: string | null;
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
}

const DAY = 86_400_000;
const iso = (t: number): string => new Date(t).toISOString();
/** For reasons meant to be read: whole seconds are enough. */
const when = (t: number): string => iso(t).replace(/\.\d{3}Z$/, 'Z');

export function buildStatus(input: StatusInput): StatusRow[] {
  const ranked = input.files.map((file) => describe(file, input));
  ranked.sort((a, b) => a.rank - b.rank || a.notAfter - b.notAfter || compare(a.row.name, b.row.name) || compare(a.row.file, b.row.file));
  return ranked.map((r) => inFieldOrder(r.row));
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
    keyType: r.keyType,
    serial: r.serial,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    daysLeft: r.daysLeft,
    nextRenewalAt: r.nextRenewalAt,
    lastError: r.lastError,
  };
}

interface Ranked {
  row: StatusRow;
  /** Expired first, then unusable files, then the rest by expiry; retired ones last, they are not served. */
  rank: number;
  notAfter: number;
}

function describe(file: StoredFile, input: StatusInput): Ranked {
  const { now } = input;
  // state.json speaks of the certificates in certs/; retired ones leave it, unmanaged ones never enter it.
  const stored = file.location === 'certs' ? input.state?.certificates.get(file.name) : undefined;
  const failure = stored?.failure;
  const base = {
    location: file.location,
    file: file.file,
    appId: stored?.owner?.appId ?? null,
    portIndex: stored?.owner?.portIndex ?? null,
    lastError: failure === undefined ? null : describeProblem(failure.lastError),
  };
  if (!file.content.ok) {
    const reason =
      file.location === 'certs'
        ? `${file.content.reason}; HAProxy cannot load it, and the daemon moves it to corrupt-certs/ at its next sync`
        : file.content.reason;
    return {
      rank: file.location === 'retired-certs' ? 3 : 1,
      notAfter: Infinity,
      row: {
        ...base,
        name: file.name,
        names: [],
        state: 'unusable',
        reason,
        issuer: null,
        issuerDn: null,
        keyType: null,
        serial: null,
        notBefore: null,
        notAfter: null,
        daysLeft: null,
        nextRenewalAt: null,
      },
    };
  }

  const { bundle } = file.content;
  const { leaf } = bundle;
  const notBefore = leaf.notBefore.getTime();
  const notAfter = leaf.notAfter.getTime();
  const certificate = new X509Certificate(bundle.leafPem);
  // notAfter is the last moment of validity (RFC 5280 §4.1.2.5), so it expires just after.
  const expired = now > notAfter;
  const facts = {
    ...base,
    name: file.location === 'certs' ? file.name : (leaf.names[0] ?? file.name),
    names: [...leaf.names],
    issuer: shortIssuer(certificate.issuer),
    issuerDn: leaf.issuer,
    keyType: keyType(certificate),
    serial: leaf.serialHex,
    notBefore: iso(notBefore),
    notAfter: iso(notAfter),
    daysLeft: Math.floor((notAfter - now) / DAY),
  };

  if (file.location === 'retired-certs') {
    return {
      rank: 3,
      notAfter,
      row: { ...facts, state: 'retired', reason: 'moved out of certs/ because no app wanted it: not served, not renewed', nextRenewalAt: null },
    };
  }
  if (file.location === 'unmanaged-certs') {
    const reason = `${expired ? `expired at ${when(notAfter)}; ` : ''}in unmanaged-certs/: managed by hand, never renewed by marathon-acme`;
    return { rank: expired ? 0 : 2, notAfter, row: { ...facts, state: expired ? 'expired' : 'unmanaged', reason, nextRenewalAt: null } };
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
  return { rank: expired ? 0 : 2, notAfter, row: { ...facts, state, reason, nextRenewalAt: iso(nextRenewalAt) } };
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

function failureNote(failure: FailureState | undefined, now: number): string {
  if (failure === undefined) return '';
  const attempts = failure.failures === 1 ? '1 failed attempt' : `${failure.failures} failed attempts`;
  const next = failure.nextAttemptAt > now ? `next attempt not before ${when(failure.nextAttemptAt)}` : 'tried again at the next check';
  return `; ${attempts}, ${next}: ${describeProblem(failure.lastError)}`;
}

/** `R11 (Let's Encrypt)` from Node's one-attribute-per-line DN; the whole DN when it has neither. */
function shortIssuer(dn: string): string {
  const attributes = dn.split('\n');
  const value = (type: string): string | undefined => attributes.find((a) => a.startsWith(`${type}=`))?.slice(type.length + 1);
  const cn = value('CN');
  const o = value('O');
  if (cn !== undefined && o !== undefined) return `${cn} (${o})`;
  return cn ?? o ?? attributes.filter((a) => a !== '').join(', ');
}

const CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** The certificate's public key, as people name key types: `RSA 2048`, `ECDSA P-256`, `Ed25519` (others: Node's name). */
function keyType(certificate: X509Certificate): string {
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return `RSA ${details?.modulusLength ?? '?'}`;
    case 'ec': {
      const curve = details?.namedCurve;
      return `ECDSA ${curve === undefined ? '?' : (CURVES[curve] ?? curve)}`;
    }
    case 'ed25519':
      return 'Ed25519';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
