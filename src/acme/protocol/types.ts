/**
 * The ACME objects (RFC 8555 §7.1) as this client uses them: only the members it needs, every URL
 * absolute, the object's own URL included. What the CA sent beyond these is dropped when the answer
 * is read (objects.ts), so a CA adding members or challenge types cannot break us.
 */
import type { AcmeProblemError } from './problem.js';

/** Why a request got no HTTP answer at all: the CA did not answer in time, or could not be reached. */
export type TransportFailure = 'timeout' | 'network';

export interface AcmeDirectory {
  /** Where the directory itself was read. */
  url: string;
  newNonce: string;
  newAccount: string;
  newOrder: string;
  /** Required by RFC 8555, but a CA without them can still issue, so their absence only fails their own use. */
  revokeCert: string | undefined;
  keyChange: string | undefined;
  /** RFC 9773 (ARI). */
  renewalInfo: string | undefined;
  meta: {
    termsOfService: string | undefined;
    /** draft-ietf-acme-profiles: profile name → description; empty when the CA offers none. */
    profiles: Readonly<Record<string, string>>;
    externalAccountRequired: boolean;
  };
}

export interface AcmeIdentifier {
  type: string;
  value: string;
}

export type AcmeOrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
export type AcmeAuthorizationStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
export type AcmeChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';

export interface AcmeOrder {
  url: string;
  status: AcmeOrderStatus;
  identifiers: AcmeIdentifier[];
  authorizations: string[];
  finalize: string;
  /** Once the order is valid. */
  certificate: string | undefined;
  /** Why the order is invalid, when the CA said. */
  error: AcmeProblemError | undefined;
  /** Retry-After of the answer that carried this state: when to poll again (RFC 8555 §7.4). */
  retryAfterMs: number | undefined;
}

export interface AcmeChallenge {
  /** Any type the CA offers, including ones this client cannot answer (callers pick http-01). */
  type: string;
  url: string;
  status: AcmeChallengeStatus;
  /** Present for the token-based types (http-01, dns-01, tls-alpn-01); a newer type may have none. */
  token: string | undefined;
  error: AcmeProblemError | undefined;
}

export interface AcmeAuthorization {
  url: string;
  status: AcmeAuthorizationStatus;
  identifier: AcmeIdentifier;
  challenges: AcmeChallenge[];
  wildcard: boolean;
  retryAfterMs: number | undefined;
}

export interface AcmeAccount {
  url: string;
  status: string;
  /** False when the key's existing account was found (RFC 8555 §7.3.1 onlyReturnExisting). */
  created: boolean;
}
