import type { KeyObject } from 'node:crypto';

/**
 * The PEM a certificate's private key is written in: PKCS#1 (`BEGIN RSA PRIVATE KEY`) for RSA, as
 * the original wrote every key, and SEC1 (`BEGIN EC PRIVATE KEY`) for EC, what OpenSSL's own tools
 * write. Operators' scripts (`openssl rsa -in`, a grep for the header, a copy into another system)
 * were written against the original's files. HAProxy reads either form, and so does our bundle
 * reader (PKCS#8 too, which earlier versions of this daemon wrote). SEC1 as Node writes it carries
 * the curve and the public point, so the reader matches key and certificate without OpenSSL.
 *
 * Other key types have no encoding of their own and keep PKCS#8.
 */
export function encodePrivateKey(key: KeyObject): string {
  if (key.type !== 'private') throw new Error(`expected a private key, got a ${key.type} key`);
  const type = key.asymmetricKeyType === 'rsa' ? 'pkcs1' : key.asymmetricKeyType === 'ec' ? 'sec1' : 'pkcs8';
  return key.export({ type, format: 'pem' });
}
