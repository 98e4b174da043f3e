import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { formatBundle, parseBundle } from '../../src/certs/bundle.js';
import { certificateFields } from '../../src/certs/der.js';
import { encodePrivateKey } from '../../src/certs/key-pem.js';
import { publicKeyMatches } from '../../src/certs/key-match.js';
import { splitPem } from '../../src/certs/pem.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

type Kind = 'rsa2048' | 'ecdsa-p256' | 'ecdsa-p384';

function newKey(kind: Kind): KeyObject {
  if (kind === 'rsa2048') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  return generateKeyPairSync('ec', { namedCurve: kind === 'ecdsa-p256' ? 'P-256' : 'P-384' }).privateKey;
}

/** A self-signed certificate for `key`, made in process. */
async function selfSigned(key: KeyObject, kind: Kind): Promise<string> {
  const algorithm = kind === 'rsa2048'
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: kind === 'ecdsa-p256' ? 'P-256' : 'P-384', hash: 'SHA-256' };
  const privateKey = await crypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
  const publicKey = await crypto.subtle.importKey('spki', createPublicKey(key).export({ type: 'spki', format: 'der' }), algorithm, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=key.example.test',
    notBefore: new Date(Date.UTC(2026, 0, 1)),
    notAfter: new Date(Date.UTC(2026, 3, 1)),
    keys: { privateKey, publicKey },
    signingAlgorithm: algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'key.example.test' }], false)],
  });
  return cert.toString('pem');
}

const KINDS: Kind[] = ['rsa2048', 'ecdsa-p256', 'ecdsa-p384'];
const material = new Map<Kind, { key: KeyObject; leaf: string }>();

before(async () => {
  for (const kind of KINDS) {
    const key = newKey(kind);
    material.set(kind, { key, leaf: await selfSigned(key, kind) });
  }
});

function get(kind: Kind): { key: KeyObject; leaf: string } {
  const m = material.get(kind);
  if (m === undefined) throw new Error(`no material for ${kind}`);
  return m;
}

describe('certificate key encoding', () => {
  it("writes RSA keys as PKCS#1 and EC keys as SEC1, the original's and OpenSSL's forms, losslessly", () => {
    const expected: Record<Kind, string> = { rsa2048: 'RSA PRIVATE KEY', 'ecdsa-p256': 'EC PRIVATE KEY', 'ecdsa-p384': 'EC PRIVATE KEY' };
    for (const kind of KINDS) {
      const { key } = get(kind);
      const pem = encodePrivateKey(key);
      const blocks = splitPem(pem).blocks;
      assert.deepEqual(blocks.map((b) => b.label), [expected[kind]], kind);
      assert.ok(createPrivateKey(pem).equals(key), `${kind}: the same key read back`);
    }
  });

  it('keeps PKCS#8 for key types without an encoding of their own, and refuses a public key', () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    assert.match(encodePrivateKey(ed), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.throws(() => encodePrivateKey(createPublicKey(ed)), /expected a private key, got a public key/);
  });

  it('writes a key whose certificate match needs no OpenSSL (SEC1 carries the curve and the public point)', () => {
    for (const kind of KINDS) {
      const { key, leaf } = get(kind);
      const block = splitPem(encodePrivateKey(key)).blocks[0];
      assert.ok(block !== undefined);
      const der = Buffer.from(block.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const fields = certificateFields(new X509Certificate(leaf).raw);
      assert.ok(fields !== undefined);
      assert.equal(publicKeyMatches(block.label, der, fields.spki), true, kind);
    }
  });

  it('reads bundles with the key in PKCS#1, SEC1 or PKCS#8 alike (earlier versions wrote PKCS#8)', () => {
    const forms: [Kind, 'pkcs1' | 'sec1' | 'pkcs8', string][] = [
      ['rsa2048', 'pkcs1', 'RSA PRIVATE KEY'],
      ['rsa2048', 'pkcs8', 'PRIVATE KEY'],
      ['ecdsa-p256', 'sec1', 'EC PRIVATE KEY'],
      ['ecdsa-p256', 'pkcs8', 'PRIVATE KEY'],
      ['ecdsa-p384', 'sec1', 'EC PRIVATE KEY'],
      ['ecdsa-p384', 'pkcs8', 'PRIVATE KEY'],
    ];
    for (const [kind, type, label] of forms) {
      const { key, leaf } = get(kind);
      const parsed = parseBundle(formatBundle(key.export({ type, format: 'pem' }), leaf));
      assert.ok(parsed.ok, `${kind} ${type}: ${parsed.ok ? '' : parsed.reason}`);
      assert.equal(splitPem(parsed.bundle.keyPem).blocks[0]?.label, label);
      assert.deepEqual(parsed.bundle.leaf.names, ['key.example.test']);
    }
  });
});
