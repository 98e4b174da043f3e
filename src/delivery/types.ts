/**
 * What the delivery check knows about one certificate on one marathon-lb: the vocabulary shared by
 * the checker, the metrics, the notifications, the status page and the offline commands.
 */

/**
 * - `served`: the LB presents exactly the stored leaf for the name;
 * - `stale`: it presents an older certificate of ours for the name (the reload did not happen);
 * - `other`: it presents something else (default.pem, a foreign or newer certificate);
 * - `unreachable`: no TLS handshake with the LB's TLS port;
 * - `unchecked`: not checked yet since the certificate was written.
 */
export type DeliveryStatus = 'served' | 'stale' | 'other' | 'unreachable' | 'unchecked';

export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['served', 'stale', 'other', 'unreachable', 'unchecked'];

/** One (LB, name) pair. Times are epoch ms. */
export interface DeliveryRecord {
  /** The `--lb` URL as displayed (credentials masked). */
  lb: string;
  /** The certificate's primary name (its file name in certs/). */
  name: string;
  status: DeliveryStatus;
  /** Not served for longer than the grace after the last signal, retries included: a delivery failure. */
  failing: boolean;
  checkedAt: number | undefined;
  /** The last check that saw the stored leaf served. */
  lastServedAt: number | undefined;
  /** What was seen instead (issuer, serial, expiry) or why the check failed; undefined when served. */
  detail: string | undefined;
}
