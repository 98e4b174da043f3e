import { AcmeConfigError, type CertificateAuthority } from '../acme/issuer.js';
import type { Logger } from '../log.js';
import { backoffDelay } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';

export interface RegistrationOptions {
  ca: CertificateAuthority;
  clock: Clock;
  logger: Logger;
  random: () => number;
  signal: AbortSignal;
  /** Each failed attempt, with the reason (shown on /health and /status). */
  onError: (message: string) => void;
  onReady: () => void;
  /** The CA can never serve this configuration (e.g. a profile it lacks): the daemon stops. */
  onFatal: (err: Error) => void;
}

/**
 * Registers (or finds) the ACME account, retrying with backoff for as long as the daemon runs: a CA
 * that is down at start must not stop the daemon, which keeps serving challenges meanwhile.
 */
export async function registerAccountUntilReady(options: RegistrationOptions): Promise<void> {
  const { ca, clock, logger, signal } = options;
  let attempt = 0;
  while (!signal.aborted) {
    try {
      await ca.ensureAccount();
      options.onReady();
      return;
    } catch (err) {
      if (err instanceof AcmeConfigError) {
        logger.fatal({ err: err.message }, 'the CA cannot serve this configuration; stopping');
        options.onFatal(err);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      options.onError(message);
      const delay = backoffDelay({ baseMs: 2_000, capMs: 5 * 60_000 }, attempt++, options.random);
      logger.error({ err: message, retryInMs: delay }, 'ACME account is not ready; retrying after a pause');
      await clock.sleep(delay, signal);
    }
  }
}
