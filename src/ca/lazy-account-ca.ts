/**
 * A CA after the primary: its agent, account key (accounts/<host>[_<port>]/client.key) and account
 * are made at its first use, so a CA that is never needed never gets an account, and one that is
 * down at start-up costs nothing until an order is sent to it.
 */
import type { RenewalInfo } from '../acme/ari.js';
import { IssueError, type CertificateAuthority, type IssuedCertificate } from '../acme/issuer.js';

export class LazyAccountCa implements CertificateAuthority {
  private opened: Promise<CertificateAuthority> | undefined;

  constructor(
    readonly directoryUrl: string,
    private readonly open: () => Promise<CertificateAuthority>,
  ) {}

  async ensureAccount(): Promise<void> {
    await (await this.ca()).ensureAccount();
  }

  async issue(names: readonly string[], options?: { replaces?: string | undefined }): Promise<IssuedCertificate> {
    let ca: CertificateAuthority;
    try {
      ca = await this.ca();
    } catch (err) {
      // Counted as the order's account step, which it is: the order never reached the CA.
      throw new IssueError(names, 'account registration', err);
    }
    return ca.issue(names, options);
  }

  async renewalInfoUrl(): Promise<string | undefined> {
    return (await this.ca()).renewalInfoUrl();
  }

  async renewalInfo(certId: string): Promise<RenewalInfo> {
    const ca = await this.ca();
    if (ca.renewalInfo === undefined) throw new Error(`the CA at ${this.directoryUrl} cannot be asked for renewal windows`);
    return ca.renewalInfo(certId);
  }

  /** Opened once; a failed opening (an unreadable --acme-ca-file, a key that cannot be written) is tried again next time. */
  private ca(): Promise<CertificateAuthority> {
    this.opened ??= this.open().catch((err: unknown) => {
      this.opened = undefined;
      throw err;
    });
    return this.opened;
  }
}

/** Where a CA other than the primary keeps its account key, by its directory's host (and port). */
export function accountKeyPath(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return `accounts/${host}${url.port === '' ? '' : `_${url.port}`}/client.key`;
}
