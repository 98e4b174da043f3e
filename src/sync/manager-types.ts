/**
 * What the certificate manager orders and reports: one order's job, the outcome of each attempt, the
 * names that are failing and the certificates it manages, as metrics, notifications and status read them.
 */
import type { AcmeProblem, CertOwner } from '../state/state.js';

/** The outcome of one order attempt, for whoever counts them. */
export interface OrderAttempt {
  kind: 'issue' | 'renew';
  ok: boolean;
  /**
   * Why it failed: the CA's problem type; `timeout` or `network` when the CA did not answer at all;
   * `budget` or `preflight:<kind>` when it was not sent; undefined when nothing more is known.
   */
  problemType: string | undefined;
}

/** A name whose last order failed, for metrics, notifications and status. */
export interface FailingName {
  name: string;
  kind: 'issue' | 'renew';
  failures: number;
  problem: AcmeProblem;
  nextAttemptAt: number;
  appId: string | undefined;
}

/** What the metrics show of one stored certificate. */
export interface ManagedCertificate {
  name: string;
  appId: string | undefined;
  notBefore: number;
  notAfter: number;
  /** The decided renewal time, when one was decided for this very certificate. */
  renewAt: number | undefined;
  /** The directory URL of the CA that issued this very certificate, when known. */
  ca: string | undefined;
}

export interface OrderJob {
  names: string[];
  reason: 'new' | 'names changed' | 'renewal';
  appId: string | undefined;
  /** For renewals: when the current certificate expires (logged with failures). */
  notAfter?: number;
  /** For new certificates: the app port it is for. */
  owner?: CertOwner;
  /** For renewals: the current certificate's validity. */
  validity?: { notBefore: number; notAfter: number };
  /** For renewals with ARI: the certificate being replaced, and the CA that issued it. */
  replaces?: { directory: string; certId: string } | undefined;
}

export interface BatchResult {
  /** Names whose certificate file was written in this batch. */
  written: string[];
  failed: string[];
}
