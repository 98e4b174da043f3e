import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { encodePrivateKey } from './key-pem.js';
import { x509Library } from './x509-library.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;

const DAY_MS = 86_400_000;
const RSA_SHA256: RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

/**
 * The certificate behind `default.pem`. It exists because HAProxy refuses a `crt` path that supplies
 * no certificate, so marathon-lb needs one before any real certificate is issued; nobody is meant to
 * trust it. Kept as the original made it (PKCS#1 RSA key first, `CN=*`, ten years) so a rollback or
 * an operator's tooling sees the same kind of file.
 *
 * Extensions the original did not have, each checked with `haproxy -c` (HAProxy 2.6 loads the
 * certificate with all of them; see test/integration/storage-haproxy.test.ts):
 * - basicConstraints CA:false (critical): the key sits in a shared directory; the certificate must
 *   never be usable to sign other certificates if it leaks or gets trusted by mistake.
 * - keyUsage digitalSignature + keyEncipherment (critical) and extKeyUsage serverAuth: what a TLS
 *   server certificate with an RSA key needs (ECDHE signatures, RSA key transport), and nothing else.
 * - subjectAltName DNS:* : clients that ignore the CN (all current browsers) then report a name
 *   mismatch or an unknown issuer instead of "no names at all", and HAProxy indexes the same `*` it
 *   already took from the CN, so SNI selection does not change. A bare `*` matches no host name under
 *   RFC 6125 rules, so it cannot make the certificate valid for anything by accident.
 */
export async function createFallbackCertificate(now: Date): Promise<string> {
  const x509 = await x509Library();
  const keys = await crypto.subtle.generateKey(RSA_SHA256, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // 128 random bits like the original's UUID-derived serial; the library prepends 00 when the top bit
    // is set, so the DER integer stays positive.
    serialNumber: randomBytes(16).toString('hex'),
    name: 'CN=*',
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + 3650 * DAY_MS),
    keys,
    signingAlgorithm: RSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: '*' }], false),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = encodePrivateKey(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }));
  return `${withNewline(keyPem)}${withNewline(cert.toString('pem'))}`;
}

function withNewline(pem: string): string {
  const lf = pem.replace(/\r\n/g, '\n').trimEnd();
  return `${lf}\n`;
}
