/**
 * Which CAs offer ARI (RFC 9773), asked once per renewal check and only of the CAs that issued the
 * certificates being looked at: a renewal window can only come from the CA that issued the certificate.
 */
import type { CertificateAuthority } from '../acme/issuer.js';
import type { Logger } from '../log.js';
import { errorText } from '../util/error-text.js';
import type { RenewalInfoSource } from './renewal-scheduler.js';

export class AriSources {
  private readonly urls = new Map<string, Promise<string | undefined>>();

  constructor(private readonly logger: Logger) {}

  /** The CA's renewal window lookup, or undefined when it offers no ARI (or cannot say now). */
  async renewalInfo(ca: CertificateAuthority): Promise<RenewalInfoSource | undefined> {
    let url = this.urls.get(ca.directoryUrl);
    if (url === undefined) {
      url = ca.renewalInfoUrl().catch((err: unknown) => {
        this.logger.warn({ ca: ca.directoryUrl, err: errorText(err) }, 'cannot tell whether the CA offers ARI; using the lifetime rule');
        return undefined;
      });
      this.urls.set(ca.directoryUrl, url);
    }
    if ((await url) === undefined || ca.renewalInfo === undefined) return undefined;
    return (certId) => ca.renewalInfo?.(certId) ?? Promise.reject(new Error(`the CA at ${ca.directoryUrl} cannot be asked for renewal windows`));
  }
}
