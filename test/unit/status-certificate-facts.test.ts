import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes, webcrypto } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { certificateFacts } from '../../src/status/certificate-facts.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

type Algorithm = RsaHashedKeyGenParams | (EcKeyGenParams & EcdsaParams) | { name: 'Ed25519' };

const rsa = (bits: number): RsaHashedKeyGenParams => ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) });
const ec = (curve: string): EcKeyGenParams & EcdsaParams => ({ name: 'ECDSA', namedCurve: curve, hash: 'SHA-256' });
const SIGNER = ec('P-256');

/** A certificate for a key of `algorithm`, signed by a separate P-256 key under the issuer DN `issuer`. */
async function certificate(algorithm: Algorithm, issuer: string): Promise<string> {
  const signer = await crypto.subtle.generateKey(SIGNER, false, ['sign', 'verify']);
  const leaf = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex'),
    subject: 'CN=leaf.example.test',
    issuer,
    notBefore: new Date('2026-11-01T00:00:00Z'),
    notAfter: new Date('2027-01-30T00:00:00Z'),
    publicKey: leaf.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: SIGNER,
  });
  return cert.toString('pem');
}

describe('status certificate facts', () => {
  it('names the key type from the DER as Node would', async () => {
    const cases: Array<[Algorithm, string]> = [
      [rsa(2048), 'RSA 2048'],
      [rsa(3072), 'RSA 3072'],
      [rsa(1025), 'RSA 1025'],
      [ec('P-256'), 'ECDSA P-256'],
      [ec('P-384'), 'ECDSA P-384'],
      [ec('P-521'), 'ECDSA P-521'],
      [{ name: 'Ed25519' }, 'Ed25519'],
    ];
    for (const [algorithm, expected] of cases) {
      assert.equal(certificateFacts(await certificate(algorithm, 'CN=Issuer')).keyType, expected);
    }
  });

  it('names the issuer by CN and O, whatever the order and the commas in the values', async () => {
    const cases: Array<[string, string]> = [
      ["C=US, O=Let's Encrypt, CN=R11", "R11 (Let's Encrypt)"],
      ['CN=Pebble Intermediate CA 1609ab', 'Pebble Intermediate CA 1609ab'],
      ['C=DE, O=Example GmbH', 'Example GmbH'],
      ['CN=E6, O="Example, Inc."', 'E6 (Example, Inc.)'],
      ['CN=Zertifizierungsstelle Ü', 'Zertifizierungsstelle Ü'],
    ];
    for (const [dn, expected] of cases) {
      assert.equal(certificateFacts(await certificate(ec('P-256'), dn)).issuer, expected, dn);
    }
  });

  it('falls back to the whole DN when it has neither CN nor O', async () => {
    assert.equal(certificateFacts(await certificate(ec('P-256'), 'C=US, OU=Ops')).issuer, 'C=US, OU=Ops');
  });
});
