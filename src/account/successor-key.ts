/**
 * The key an account rolls over to: of the same kind as the one it replaces, so that whatever the
 * operator chose (or the original's RSA 2048) stays the choice, and a rollback to a release that reads
 * only that kind still works. Encoded as the daemon writes a new client.key: PKCS#1 for RSA, SEC1 for EC.
 */
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { encodePrivateKey } from '../certs/key-pem.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Let's Encrypt refuses smaller account keys; an older, smaller key rolls over to this size. */
const MIN_RSA_BITS = 2048;

/** What an operator recognises: `RSA 2048`, `EC P-256`. */
export function describeAccountKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `RSA ${details?.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${CURVE_NAMES[details?.namedCurve ?? ''] ?? details?.namedCurve ?? 'unknown curve'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

const CURVE_NAMES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

export async function successorKey(currentPem: string): Promise<{ key: KeyObject; pem: string }> {
  const current = createPrivateKey(currentPem);
  const details = current.asymmetricKeyDetails;
  let key: KeyObject;
  if (current.asymmetricKeyType === 'rsa') {
    const modulusLength = Math.max(MIN_RSA_BITS, details?.modulusLength ?? 0);
    ({ privateKey: key } = await generateKeyPairAsync('rsa', { modulusLength, publicExponent: 0x10001 }));
  } else if (current.asymmetricKeyType === 'ec' && details?.namedCurve !== undefined) {
    ({ privateKey: key } = await generateKeyPairAsync('ec', { namedCurve: details.namedCurve }));
  } else {
    throw new Error(`client.key is a ${describeAccountKey(current)} key, which cannot be rolled over (RSA and EC can)`);
  }
  return { key, pem: encodePrivateKey(key) };
}
