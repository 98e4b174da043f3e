/**
 * The certificate signing request sent to finalize an order (RFC 8555 §7.4): every name in the SAN
 * extension, which is what CAs issue from; the first name also as the subject CN when it fits.
 */
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { x509Library } from '../../certs/x509-library.js';

/** RFC 5280's upper bound for a CN (ub-common-name); longer names can only be in the SAN. */
const MAX_CN_LENGTH = 64;

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;

interface CsrAlgorithms {
  /** How the key is imported into WebCrypto. */
  key: RsaHashedImportParams | EcKeyImportParams;
  /** How the request is signed. */
  signing: Algorithm | EcdsaParams;
}

/** Signs with SHA-256 (RSA, P-256) or SHA-384 (P-384): the hash that matches the key's strength. */
function algorithmsFor(key: KeyObject): CsrAlgorithms {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: rsa, signing: rsa };
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1')) {
    const namedCurve = curve === 'prime256v1' ? 'P-256' : 'P-384';
    return { key: { name: 'ECDSA', namedCurve }, signing: { name: 'ECDSA', hash: namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384' } };
  }
  throw new Error(`cannot build a CSR with a ${type ?? 'unknown'}${curve === undefined ? '' : ` ${curve}`} key (RSA, EC P-256 or EC P-384 are supported)`);
}

/** A DER PKCS#10 request for `names`, signed by the certificate's private `key`. */
export async function createCsr(names: readonly string[], key: KeyObject): Promise<Buffer> {
  const first = names[0];
  if (first === undefined) throw new Error('cannot build a CSR without names');
  if (key.type !== 'private') throw new Error(`cannot build a CSR with a ${key.type} key: the private key signs it`);
  const algorithms = algorithmsFor(key);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const keys: CryptoKeyPair = {
    privateKey: await crypto.subtle.importKey('pkcs8', pkcs8, algorithms.key, false, ['sign']),
    publicKey: await crypto.subtle.importKey('spki', spki, algorithms.key, true, ['verify']),
  };
  const x509 = await x509Library();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      // The CN is optional and CAs ignore it; a name too long for it is left out rather than cut.
      ...(first.length <= MAX_CN_LENGTH ? { name: [{ CN: [first] }] } : {}),
      keys,
      signingAlgorithm: algorithms.signing,
      extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })), false)],
    },
    crypto,
  );
  return Buffer.from(csr.rawData);
}
