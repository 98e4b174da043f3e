/** The order that renews a stored certificate, and the CA that issued it (which alone can speak of it). */
import type { CertificateAuthority } from '../acme/issuer.js';
import type { CaRouter } from '../ca/ca-router.js';
import { renewalNames, type CertSummary } from '../certs/plan.js';
import { normaliseHostname } from '../domains/hostname.js';
import type { DaemonState } from '../state/state.js';
import type { AriSources } from './ari-sources.js';
import type { OrderJob } from './manager-types.js';

/**
 * The CA that issued the stored certificate, as state.json remembers it for this very certificate;
 * the primary when it is not known (certificates stored before this was kept) or no longer configured.
 */
export function issuerOf(state: DaemonState, router: CaRouter, cert: CertSummary): CertificateAuthority {
  const issuedBy = state.certificates.get(cert.name)?.issuedBy;
  const directory = issuedBy !== undefined && issuedBy.serial === cert.serialHex ? issuedBy.directory : undefined;
  return router.byDirectory(directory) ?? router.primary;
}

/** The order that renews `cert`: its names, the secondary ones that are still valid names. */
export async function renewalJob(cert: CertSummary, issuer: CertificateAuthority, ari: AriSources): Promise<OrderJob> {
  // RFC 9773: a renewal names the certificate it replaces, which also exempts it from rate limits;
  // only the CA that issued it knows it.
  const offersAri = (await ari.renewalInfo(issuer)) !== undefined;
  return {
    names: renewalNames(cert).filter((n, i) => i === 0 || normaliseHostname(n).ok),
    reason: 'renewal',
    appId: undefined,
    notAfter: cert.notAfter,
    validity: { notBefore: cert.notBefore, notAfter: cert.notAfter },
    replaces: offersAri && cert.ariCertId !== undefined ? { directory: issuer.directoryUrl, certId: cert.ariCertId } : undefined,
  };
}
