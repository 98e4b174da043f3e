import { createPrivateKey, generateKeyPair } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CertStore } from '../certs/store.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The curves of the JWS algorithms ES256/ES384/ES512, the only EC keys ACME servers take. */
const ACME_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * The account key is the ACME account: losing it means a new account, orphaned orders and, with
 * External Account Binding, a manual step to register again. So an existing client.key is used as is
 * (the original's PKCS#1 RSA, PKCS#8, or SEC1 EC) and a broken one stops the daemon instead of being
 * replaced. A new key is RSA 2048 in PKCS#1 like the original's, so a rollback can still read it.
 */
export async function loadOrCreateAccountKey(store: CertStore): Promise<{ pem: string; created: boolean }> {
  const existing = await store.readAccountKey();
  if (existing !== undefined) return { pem: checkAccountKey(existing, store.root), created: false };

  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  try {
    await store.writeAccountKey(pem);
  } catch (err) {
    // Another process may have created it first (writeAccountKey never replaces); theirs is the account.
    const winner = await store.readAccountKey().catch(() => undefined);
    if (winner === undefined) throw err;
    return { pem: checkAccountKey(winner, store.root), created: false };
  }
  return { pem, created: true };
}

function checkAccountKey(pem: string, root: string): string {
  const file = join(root, 'client.key');
  const advice = 'it identifies the ACME account, so it is not replaced automatically: restore it from a backup, or remove it to register a new account';
  if (/^-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: *4, *ENCRYPTED/m.test(pem)) throw new Error(`${file} is an encrypted private key, which cannot be used without a passphrase; ${advice}`);
  let key;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`${file} is not a readable private key (${err instanceof Error ? err.message : String(err)}); ${advice}`, { cause: err });
  }
  if (key.asymmetricKeyType === 'rsa') return pem;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && curve !== undefined && ACME_CURVES.has(curve)) return pem;
  const kind = key.asymmetricKeyType === 'ec' ? `EC ${curve ?? 'unknown curve'}` : (key.asymmetricKeyType ?? 'unknown');
  throw new Error(`${file} is a ${kind} key; ACME account keys must be RSA or EC P-256/P-384/P-521; ${advice}`);
}
