/**
 * One probe answer against the stored certificate for a name: which of the delivery states it is.
 * Pure, so every combination of inputs can be tried by property tests.
 */
import { normaliseFingerprint, type ProbeResult, type ServedLeaf } from './probe.js';
import type { DeliveryStatus } from './types.js';

/** What is on disk for a name: the certificate the load balancer should present. */
export interface StoredLeaf {
  /** SHA-256 fingerprint, either Node's `AB:CD:…` form or lower-case hex. */
  fingerprint256: string;
  /** Epoch ms. */
  notBefore: number;
  names: readonly string[];
}

export interface Verdict {
  status: DeliveryStatus;
  /** What was seen instead, or why nothing was seen; undefined when served. */
  detail: string | undefined;
}

/**
 * - served: the very certificate stored;
 * - stale: an earlier certificate for the same name (not default.pem): HAProxy still holds what it
 *   loaded before the last write, the signature of a reload that did not happen;
 * - other: default.pem, a certificate that does not name it, or a newer one: something else answers;
 * - unreachable: no handshake, so nothing can be said.
 * Names are compared exactly (case aside): our certificates never carry wildcards, so a wildcard
 * that covers the name is somebody else's.
 */
export function deliveryVerdict(stored: StoredLeaf, probe: ProbeResult, defaultFingerprint?: string): Verdict {
  if (!probe.ok) return { status: 'unreachable', detail: probe.error };
  const served = probe.leaf;
  const fingerprint = normaliseFingerprint(served.fingerprint256);
  if (fingerprint === normaliseFingerprint(stored.fingerprint256)) return { status: 'served', detail: undefined };
  const seen = describeLeaf(served);
  if (defaultFingerprint !== undefined && fingerprint === normaliseFingerprint(defaultFingerprint)) {
    return { status: 'other', detail: `default.pem is served (${seen})` };
  }
  const wanted = new Set(stored.names.map((n) => n.toLowerCase()));
  const namesIt = served.names.some((n) => wanted.has(n.toLowerCase()));
  if (!namesIt) return { status: 'other', detail: `a certificate for other names is served (${seen})` };
  if (served.notBefore < stored.notBefore) return { status: 'stale', detail: `an older certificate is served (${seen})` };
  return { status: 'other', detail: `a different certificate, not older than the stored one, is served (${seen})` };
}

/** Enough to tell certificates apart in a status line: names, serial, issuer, validity. */
export function describeLeaf(leaf: ServedLeaf): string {
  const names = leaf.names.length <= 3 ? leaf.names.join(', ') : `${leaf.names.slice(0, 3).join(', ')} +${leaf.names.length - 3}`;
  return `${names === '' ? 'no names' : names}; serial ${leaf.serialHex}; issuer ${leaf.issuer}; valid ${isoDay(leaf.notBefore)} to ${isoDay(leaf.notAfter)}`;
}

function isoDay(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 10) : '?';
}
