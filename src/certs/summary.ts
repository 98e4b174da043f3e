import { ariCertId } from '../acme/ari.js';
import type { Bundle } from './bundle.js';
import type { CertSummary } from './plan.js';

/** What the index knows of a stored bundle. */
export function summarizeBundle(name: string, bundle: Bundle): CertSummary {
  let certId: string | undefined;
  try {
    certId = ariCertId(bundle.leafPem);
  } catch {
    // No authority key identifier: ARI cannot name this certificate; the lifetime rule applies.
  }
  return {
    name,
    names: bundle.leaf.names,
    notBefore: bundle.leaf.notBefore.getTime(),
    notAfter: bundle.leaf.notAfter.getTime(),
    serialHex: bundle.leaf.serialHex,
    ariCertId: certId,
  };
}
