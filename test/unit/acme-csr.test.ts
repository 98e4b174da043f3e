import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { createCsr } from '../../src/acme/protocol/csr.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;

async function read(names: string[], key: KeyObject): Promise<x509.Pkcs10CertificateRequest> {
  return new x509.Pkcs10CertificateRequest(new Uint8Array(await createCsr(names, key)));
}

const SAN_OID = '2.5.29.17';

function sanNames(csr: x509.Pkcs10CertificateRequest): string[] {
  const extension = csr.getExtension(SAN_OID);
  if (extension === null) return [];
  const names: x509.JsonGeneralNames = new x509.SubjectAlternativeNameExtension(extension.rawData).names.toJSON();
  return names.map((name) => `${name.type}:${name.value}`);
}

describe('createCsr', () => {
  for (const [label, key, signature] of [
    ['RSA', rsa, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }],
    ['EC P-256', p256, { name: 'ECDSA', hash: 'SHA-256' }],
    ['EC P-384', p384, { name: 'ECDSA', hash: 'SHA-384' }],
  ] as const) {
    it(`signs with the ${label} key (${signature.name} ${signature.hash}) and carries its public key`, async () => {
      const csr = await read(['a.example.test'], key);
      assert.equal(csr.signatureAlgorithm.name, signature.name);
      assert.equal(csr.signatureAlgorithm.hash.name, signature.hash);
      assert.ok(await csr.verify(), 'the self-signature verifies');
      const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
      assert.deepEqual(Buffer.from(csr.publicKey.rawData), spki);
    });
  }

  it('names every name in the SAN and the first as CN', async () => {
    const csr = await read(['a.example.test', 'b.example.test', 'c.example.test'], p256);
    assert.equal(csr.subject, 'CN=a.example.test');
    assert.deepEqual(sanNames(csr), ['dns:a.example.test', 'dns:b.example.test', 'dns:c.example.test']);
  });

  it('leaves out the CN when the first name is longer than 64 characters', async () => {
    const long = `${'a'.repeat(60)}.example.test`;
    const csr = await read([long, 'b.example.test'], p256);
    assert.equal(csr.subject, '');
    assert.deepEqual(sanNames(csr), [`dns:${long}`, 'dns:b.example.test']);
    const exactly64 = `${'a'.repeat(51)}.example.test`;
    assert.equal(exactly64.length, 64);
    assert.equal((await read([exactly64], p256)).subject, `CN=${exactly64}`);
  });

  it('refuses keys it cannot sign a CSR with, and an empty name list', async () => {
    await assert.rejects(createCsr(['a.example.test'], generateKeyPairSync('ed25519').privateKey), /ed25519 key/);
    await assert.rejects(createCsr(['a.example.test'], generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey), /ec secp256k1 key/);
    await assert.rejects(createCsr(['a.example.test'], createPublicKey(p256)), /public key/);
    await assert.rejects(createCsr([], p256), /without names/);
  });
});
