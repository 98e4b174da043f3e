import type { DirectoryVerdict } from '../acme/directory-verdict.js';
import { AcmeConfigError, type CertificateAuthority } from '../acme/issuer.js';
import type { Logger } from '../log.js';
import { backoffDelay } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';

export interface RegistrationOptions {
  ca: Pick<CertificateAuthority, 'ensureAccount'>;
  /**
   * Judges the --acme directory until it is found valid, before registering (acme/directory-probe.ts);
   * undefined when the CA is a stand-in without a directory (tests).
   */
  checkDirectory?: (() => Promise<DirectoryVerdict>) | undefined;
  clock: Clock;
  logger: Logger;
  random: () => number;
  signal: AbortSignal;
  /** Each failed attempt, with the reason (shown on /health and /status). */
  onError: (message: string) => void;
  onReady: () => void;
  /** The CA can never serve this configuration (not an ACME v2 directory, a profile it lacks): the daemon stops. */
  onFatal: (err: Error) => void;
}

/** One step: the directory judged (until it is found valid), then the registration itself. */
type Attempt =
  | { kind: 'directory valid' }
  | { kind: 'ready' }
  | { kind: 'retry'; message: string }
  | { kind: 'fatal'; err: Error; logLine: string };

/**
 * Registers (or finds) the ACME account, retrying with backoff for as long as the daemon runs: a CA
 * that is down at start must not stop the daemon, which keeps serving challenges meanwhile. What
 * waiting cannot fix stops it instead, with one line that says why.
 */
export async function registerAccountUntilReady(options: RegistrationOptions): Promise<void> {
  const { clock, logger, signal, checkDirectory } = options;
  let directoryValid = checkDirectory === undefined;
  let attempt = 0;
  while (!signal.aborted) {
    const outcome = directoryValid || checkDirectory === undefined ? await register(options.ca) : fromVerdict(await checkDirectory());
    if (outcome.kind === 'directory valid') {
      directoryValid = true;
      continue;
    }
    if (outcome.kind === 'ready') {
      options.onReady();
      return;
    }
    if (outcome.kind === 'fatal') {
      logger.fatal({ err: outcome.err.message }, outcome.logLine);
      options.onFatal(outcome.err);
      return;
    }
    options.onError(outcome.message);
    const delay = backoffDelay({ baseMs: 2_000, capMs: 5 * 60_000 }, attempt++, options.random);
    logger.error({ err: outcome.message, retryInMs: delay }, 'ACME account is not ready; retrying after a pause');
    await clock.sleep(delay, signal);
  }
}

function fromVerdict(verdict: DirectoryVerdict): Attempt {
  if (verdict.kind === 'valid') return { kind: 'directory valid' };
  if (verdict.kind === 'transient') return { kind: 'retry', message: verdict.reason };
  return { kind: 'fatal', err: new Error(verdict.reason), logLine: 'the --acme URL is not an ACME v2 directory; stopping' };
}

async function register(ca: Pick<CertificateAuthority, 'ensureAccount'>): Promise<Attempt> {
  try {
    await ca.ensureAccount();
    return { kind: 'ready' };
  } catch (err) {
    if (err instanceof AcmeConfigError) return { kind: 'fatal', err, logLine: 'the CA cannot serve this configuration; stopping' };
    return { kind: 'retry', message: err instanceof Error ? err.message : String(err) };
  }
}
