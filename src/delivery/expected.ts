/**
 * What every marathon-lb should serve: the stored leaf of each managed certificate, and default.pem's
 * leaf (so the delivery check can tell "the LB's fallback" from anything else).
 */
import { parseBundle } from '../certs/bundle.js';
import type { CertSummary } from '../certs/plan.js';
import { normaliseFingerprint } from './probe.js';
import type { StoredLeaf } from './verdict.js';

export function storedLeaves(managed: Iterable<CertSummary>): Map<string, StoredLeaf> {
  const leaves = new Map<string, StoredLeaf>();
  for (const cert of managed) {
    if (cert.fingerprint256 !== undefined) leaves.set(cert.name, { fingerprint256: cert.fingerprint256, notBefore: cert.notBefore, names: cert.names });
  }
  return leaves;
}

/** An operator's own or broken default.pem only means the check cannot name the fallback: undefined. */
export async function defaultFingerprint(store: { readText(path: string): Promise<string | undefined> }): Promise<string | undefined> {
  try {
    const text = await store.readText('default.pem');
    const parsed = text === undefined ? undefined : parseBundle(text);
    return parsed?.ok === true ? normaliseFingerprint(parsed.bundle.leaf.fingerprint256) : undefined;
  } catch {
    return undefined;
  }
}
