/**
 * The ACME account a leader waits for before it orders. It is the primary's; but with other CAs
 * configured, a primary that has been unavailable for --fallback-after (its directory unreadable, its
 * account endpoint failing) no longer holds every order back: the first other CA whose account is
 * ready lets ordering start, and the orders go where fallback-policy.ts sends them.
 */
import type { DirectoryVerdict } from '../acme/directory-verdict.js';
import { AcmeConfigError } from '../acme/issuer.js';
import type { Logger } from '../log.js';
import { errorText } from '../util/error-text.js';
import { failureClass, type CaRouter } from './ca-router.js';

export class AccountGate {
  constructor(
    private readonly router: CaRouter,
    private readonly logger: Logger,
  ) {}

  async ensureAccount(): Promise<void> {
    const primary = this.router.primary;
    try {
      await primary.ensureAccount();
      this.router.settle(primary.directoryUrl, 'ok');
      return;
    } catch (err) {
      if (err instanceof AcmeConfigError) throw err;
      this.router.settle(primary.directoryUrl, failureClass(err));
      if (!this.router.isDown(primary.directoryUrl)) throw err;
      for (const other of this.router.all.slice(1)) {
        try {
          await other.ensureAccount();
          this.logger.warn(
            { ca: other.directoryUrl, primary: primary.directoryUrl, err: errorText(err) },
            'the primary CA has been unavailable for --fallback-after; ordering starts with this CA, and the primary is tried again as orders go on',
          );
          return;
        } catch (otherErr) {
          this.router.settle(other.directoryUrl, failureClass(otherErr));
          this.logger.warn({ ca: other.directoryUrl, err: errorText(otherErr) }, 'the account at this CA is not ready either');
        }
      }
      throw err;
    }
  }

  /**
   * The primary's directory judged before registering: one that cannot be read now counts against
   * the CA's health, and once the CA counts as down the registration goes ahead, to reach the others.
   */
  judge(verdict: DirectoryVerdict): DirectoryVerdict {
    if (verdict.kind !== 'transient') return verdict;
    const primary = this.router.primary.directoryUrl;
    this.router.settle(primary, 'unavailable');
    return this.router.isDown(primary) && this.router.all.length > 1 ? { kind: 'valid' } : verdict;
  }
}
