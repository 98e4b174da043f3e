import type { ChallengeResponder } from '../acme/challenges.js';
import type { CertificateAuthority } from '../acme/issuer.js';
import type { Config } from '../config.js';
import type { TlsTarget } from '../delivery/checker.js';
import type { DeliveryTiming } from '../delivery/controller.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';

/** What a daemon is built from: its configuration and what tests replace (time, randomness, the CA). */
export interface DaemonDeps {
  config: Config;
  logger: Logger;
  clock?: Clock;
  random?: () => number;
  /** Resolves names for the preflight check (tests map test names to 127.0.0.1); default: the system resolver. */
  lookup?: (hostname: string) => Promise<string[]>;
  /** Shown on /status. */
  version?: string;
  /** Shortens the delivery check's waits (tests); by default its production timing. */
  deliveryTiming?: Partial<DeliveryTiming>;
  /**
   * Where each LB's TLS listener is, by its displayed --lb URL (tests run several LBs on 127.0.0.1,
   * each on its own port); by default the --lb URL's host at --delivery-check-port.
   */
  deliveryTarget?: (lb: string) => TlsTarget;
  /** Replaces the ACME CA (tests of failure paths); by default the configured directory is used. */
  ca?: (accountKeyPem: string, responder: ChallengeResponder) => CertificateAuthority;
}
