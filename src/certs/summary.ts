import { formatAriCertId } from '../acme/ari.js';
import type { Bundle } from './bundle.js';
import type { CertSummary } from './plan.js';

/** What the index knows of a stored bundle. */
export function summarizeBundle(name: string, bundle: Bundle): CertSummary {
  const { authorityKeyIdHex, serialHex } = bundle.leaf;
  return {
    name,
    names: bundle.leaf.names,
    notBefore: bundle.leaf.notBefore.getTime(),
    notAfter: bundle.leaf.notAfter.getTime(),
    serialHex,
    // Without an authority key identifier ARI cannot name the certificate; the lifetime rule applies.
    ariCertId: authorityKeyIdHex === undefined ? undefined : formatAriCertId(authorityKeyIdHex, serialHex),
    fingerprint256: bundle.leaf.fingerprint256.replaceAll(':', '').toLowerCase(),
  };
}
