import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPair, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { describe, it, before } from 'node:test';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { certInfo, formatBundle, parseBundle, type Bundle } from '../../src/certs/bundle.js';
import { certificateFields, type SubjectPublicKeyInfo } from '../../src/certs/der.js';
import { publicKeyMatches } from '../../src/certs/key-match.js';
import { joinPem, splitPem } from '../../src/certs/pem.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);
const generateKeyPairAsync = promisify(generateKeyPair);
const DAY = 86_400_000;

type KeyKind = 'rsa' | 'ec';

async function newKey(kind: KeyKind): Promise<KeyObject> {
  const pair = kind === 'rsa' ? await generateKeyPairAsync('rsa', { modulusLength: 2048 }) : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return pair.privateKey;
}

function keyPem(key: KeyObject, type: 'pkcs1' | 'pkcs8' | 'sec1'): string {
  return key.export({ type, format: 'pem' });
}

const importParams = (key: KeyObject) =>
  key.asymmetricKeyType === 'rsa'
    ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    : key.asymmetricKeyType === 'ed25519'
      ? { name: 'Ed25519' }
      : { name: 'ECDSA', namedCurve: key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : key.asymmetricKeyDetails?.namedCurve === 'secp521r1' ? 'P-521' : 'P-256' };
const signParams = (kind: string | undefined) => (kind === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', hash: 'SHA-256' });

interface IssueOptions {
  subjectKey: KeyObject;
  issuerKey: KeyObject;
  subject: string;
  issuer: string;
  sans?: x509.JsonGeneralNames;
  serial?: string;
  ca?: boolean;
}

/** A certificate for `subjectKey` signed by `issuerKey`, made in process so the tests stay fast. */
async function issue(o: IssueOptions): Promise<string> {
  const subtle = crypto.subtle;
  const publicKey = await subtle.importKey(
    'spki',
    createPublicKey(o.subjectKey).export({ type: 'spki', format: 'der' }),
    importParams(o.subjectKey),
    true,
    ['verify'],
  );
  const signingKey = await subtle.importKey(
    'pkcs8',
    o.issuerKey.export({ type: 'pkcs8', format: 'der' }),
    importParams(o.issuerKey),
    false,
    ['sign'],
  );
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(o.ca ?? false, undefined, true)];
  if (o.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(o.sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serial ?? '0a1b2c',
    subject: o.subject,
    issuer: o.issuer,
    notBefore: new Date(Date.UTC(2026, 0, 1)),
    notAfter: new Date(Date.UTC(2026, 0, 1) + 90 * DAY),
    publicKey,
    signingKey,
    signingAlgorithm: signParams(o.issuerKey.asymmetricKeyType),
    extensions,
  });
  return `${cert.toString('pem')}\n`;
}

interface Pki {
  caKey: KeyObject;
  caPem: string;
  rsaKey: KeyObject;
  rsaLeaf: string;
  ecKey: KeyObject;
  ecLeaf: string;
  otherKey: KeyObject;
}

let pki: Pki;

before(async () => {
  const [caKey, rsaKey, ecKey, otherKey] = await Promise.all([newKey('ec'), newKey('rsa'), newKey('ec'), newKey('rsa')]);
  const caPem = await issue({ subjectKey: caKey, issuerKey: caKey, subject: 'CN=Test CA', issuer: 'CN=Test CA', ca: true });
  const rsaLeaf = await issue({
    subjectKey: rsaKey,
    issuerKey: caKey,
    subject: 'CN=app.example.test',
    issuer: 'CN=Test CA',
    sans: [
      { type: 'dns', value: 'App.Example.TEST' },
      { type: 'dns', value: 'www.example.test' },
      { type: 'ip', value: '192.0.2.1' },
    ],
  });
  const ecLeaf = await issue({
    subjectKey: ecKey,
    issuerKey: caKey,
    subject: 'CN=ec.example.test',
    issuer: 'CN=Test CA',
    sans: [{ type: 'dns', value: 'ec.example.test' }],
  });
  pki = { caKey, caPem, rsaKey, rsaLeaf, ecKey, ecLeaf, otherKey };
});

function mustParse(text: string): Bundle {
  const result = parseBundle(text);
  if (!result.ok) assert.fail(`expected a valid bundle, got: ${result.reason}`);
  return result.bundle;
}

function mustFail(text: string, pattern: RegExp): void {
  const result = parseBundle(text);
  if (result.ok) assert.fail('expected the bundle to be rejected');
  assert.match(result.reason, pattern);
}

describe('PEM splitting', () => {
  it('splits blocks, normalises CRLF and reports stray lines by number only', () => {
    const text = 'Bag Attributes\r\n-----BEGIN CERTIFICATE-----\r\nQUJD\r\nREVG\r\n-----END CERTIFICATE-----\r\n\r\nsecret-looking junk\r\n-----BEGIN FOO BAR-----\nAAAA\n-----END FOO BAR-----';
    const split = splitPem(text);
    assert.deepEqual(split.errors, []);
    assert.deepEqual(split.strayLines, [1, 7]);
    assert.deepEqual(
      split.blocks.map((b) => b.label),
      ['CERTIFICATE', 'FOO BAR'],
    );
    const cert = '-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n';
    assert.equal(split.blocks[0]?.pem, cert);
    assert.equal(joinPem(split.blocks), `${cert}-----BEGIN FOO BAR-----\nAAAA\n-----END FOO BAR-----\n`);
  });

  it('keeps RFC 1421 headers, so an encrypted traditional key stays recognisable', () => {
    const text = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nQUJD\n-----END RSA PRIVATE KEY-----\n';
    const [block] = splitPem(text).blocks;
    assert.match(block?.pem ?? '', /^Proc-Type: 4,ENCRYPTED$/m);
  });

  it('reports unterminated, mismatched, stray END and non-base64 blocks', () => {
    assert.match(splitPem('-----BEGIN CERTIFICATE-----\nQUJD\n').errors.join(), /no END line \(truncated file\?\)/);
    assert.match(splitPem('-----BEGIN CERTIFICATE-----\nQUJD\n-----END PRIVATE KEY-----\n').errors.join(), /ends with "END PRIVATE KEY"/);
    assert.match(splitPem('-----END CERTIFICATE-----\n').errors.join(), /never begun/);
    assert.match(splitPem('-----BEGIN CERTIFICATE-----\nQU*D\n-----END CERTIFICATE-----\n').errors.join(), /not base64/);
    assert.match(splitPem('-----BEGIN CERTIFICATE-----\nQUJ\n-----END CERTIFICATE-----\n').errors.join(), /not valid base64/);
    assert.match(splitPem('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n').errors.join(), /is empty/);
    assert.match(
      splitPem('-----BEGIN CERTIFICATE-----\nQUJD\n-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n').errors.join(),
      /no END line before the next block/,
    );
  });
});

describe('certificate bundles', () => {
  it('parses key + leaf + chain as the original wrote it (PKCS#1 key first)', () => {
    const text = keyPem(pki.rsaKey, 'pkcs1') + pki.rsaLeaf + pki.caPem;
    const bundle = mustParse(text);
    assert.match(bundle.keyPem, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    assert.equal(bundle.leafPem, pki.rsaLeaf);
    assert.deepEqual(bundle.chainPems, [pki.caPem]);
    assert.deepEqual(bundle.warnings, []);
    const node = new X509Certificate(pki.rsaLeaf);
    assert.deepEqual(bundle.leaf.names, ['app.example.test', 'www.example.test'], 'DNS SANs in lower case, IP SAN left out');
    assert.equal(bundle.leaf.notBefore.toISOString(), '2026-01-01T00:00:00.000Z');
    assert.equal(bundle.leaf.notAfter.toISOString(), new Date(Date.UTC(2026, 0, 1) + 90 * DAY).toISOString());
    assert.equal(bundle.leaf.issuer, 'CN=Test CA');
    assert.equal(bundle.leaf.fingerprint256, node.fingerprint256);
    assert.equal(bundle.leaf.serialHex, '0a1b2c');
  });

  it('accepts PKCS#8 and SEC1 EC keys', () => {
    assert.match(mustParse(keyPem(pki.rsaKey, 'pkcs8') + pki.rsaLeaf).keyPem, /BEGIN PRIVATE KEY/);
    const ec = mustParse(keyPem(pki.ecKey, 'sec1') + pki.ecLeaf + pki.caPem);
    assert.match(ec.keyPem, /BEGIN EC PRIVATE KEY/);
    assert.deepEqual(ec.leaf.names, ['ec.example.test']);
  });

  it('accepts the key after the certificates, CRLF line ends and stray text, with warnings', () => {
    const text = `friendlyName: app\n${pki.rsaLeaf}${pki.caPem}comment\n${keyPem(pki.rsaKey, 'pkcs1')}`.replace(/\n/g, '\r\n');
    const bundle = mustParse(text);
    assert.equal(bundle.leafPem, pki.rsaLeaf);
    assert.deepEqual(bundle.chainPems, [pki.caPem]);
    assert.match(bundle.warnings.join(), /2 line\(s\) of text outside PEM blocks \(first at line 1\)/);
  });

  it('ignores other blocks (HAProxy does too) but says so', () => {
    const text = `${keyPem(pki.ecKey, 'sec1')}-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${pki.ecLeaf}`;
    assert.match(mustParse(text).warnings.join(), /EC PARAMETERS block, ignored/);
  });

  it('warns when the certificate after the leaf did not issue it', () => {
    const text = keyPem(pki.rsaKey, 'pkcs1') + pki.rsaLeaf + pki.ecLeaf;
    assert.match(mustParse(text).warnings.join(), /not its issuer/);
  });

  it('falls back to the CN when there is no DNS SAN', async () => {
    const leaf = await issue({ subjectKey: pki.otherKey, issuerKey: pki.caKey, subject: 'CN=Legacy.Example.Test', issuer: 'CN=Test CA' });
    assert.deepEqual(mustParse(keyPem(pki.otherKey, 'pkcs1') + leaf).leaf.names, ['legacy.example.test']);
  });

  it('keeps the leading 00 of a serial whose top bit is set (Node drops it)', async () => {
    const leaf = await issue({ subjectKey: pki.otherKey, issuerKey: pki.caKey, subject: 'CN=s.example.test', issuer: 'CN=Test CA', serial: '87654321aabbccdd' });
    assert.equal(new X509Certificate(leaf).serialNumber, '87654321AABBCCDD');
    assert.equal(certInfo(leaf).serialHex, '0087654321aabbccdd');
  });

  it('rejects a key that belongs to no certificate', () => {
    mustFail(keyPem(pki.otherKey, 'pkcs1') + pki.rsaLeaf + pki.caPem, /does not belong to any certificate/);
    mustFail(keyPem(pki.ecKey, 'sec1') + pki.rsaLeaf, /does not belong to any certificate/);
  });

  it('rejects a key that belongs to a later certificate, as HAProxy takes the first one', () => {
    mustFail(keyPem(pki.rsaKey, 'pkcs1') + pki.caPem + pki.rsaLeaf, /belongs to certificate 2, but HAProxy uses the first/);
  });

  it('rejects files without a key, without a certificate, or with two keys', () => {
    mustFail(pki.rsaLeaf + pki.caPem, /no private key/);
    mustFail(keyPem(pki.rsaKey, 'pkcs1'), /no certificate/);
    mustFail(keyPem(pki.rsaKey, 'pkcs1') + keyPem(pki.otherKey, 'pkcs1') + pki.rsaLeaf, /2 private keys/);
  });

  it('rejects truncated files, empty files and garbage', () => {
    const full = keyPem(pki.rsaKey, 'pkcs1') + pki.rsaLeaf + pki.caPem;
    mustFail(full.slice(0, full.indexOf(pki.rsaLeaf) + 200), /no END line \(truncated file\?\)/);
    mustFail('', /empty/);
    mustFail('\n\n', /empty/);
    mustFail('blah', /no PEM blocks/);
    mustFail(Buffer.from([0x30, 0x82, 0x01, 0x0a, 0xff, 0x00]).toString('latin1'), /no PEM blocks/);
  });

  it('rejects blocks whose content is not what the label says', () => {
    mustFail(`${keyPem(pki.rsaKey, 'pkcs1')}-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n`, /certificate 1 cannot be read/);
    mustFail(`-----BEGIN RSA PRIVATE KEY-----\nQUJD\n-----END RSA PRIVATE KEY-----\n${pki.rsaLeaf}`, /private key cannot be read/);
  });

  it('rejects encrypted keys, PKCS#8 and traditional', () => {
    const pkcs8 = pki.rsaKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' });
    const traditional = pki.rsaKey.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-128-cbc', passphrase: 'x' });
    assert.match(traditional, /Proc-Type: 4,ENCRYPTED/);
    mustFail(pkcs8 + pki.rsaLeaf, /encrypted/);
    mustFail(traditional + pki.rsaLeaf, /encrypted/);
  });

  it('rejects key formats HAProxy does not read here', () => {
    mustFail(`-----BEGIN OPENSSH PRIVATE KEY-----\nQUJD\n-----END OPENSSH PRIVATE KEY-----\n${pki.rsaLeaf}`, /unsupported private key format/);
  });
});

describe('formatBundle', () => {
  it('writes the key, then the certificates in the CA order, each block ending in one newline', () => {
    const key = keyPem(pki.rsaKey, 'pkcs1');
    const chain = `${pki.rsaLeaf.trimEnd()}\r\n\r\n${pki.caPem}\n\n`;
    const text = formatBundle(key, chain);
    assert.equal(text, key + pki.rsaLeaf + pki.caPem);
    assert.doesNotMatch(text, /\n\n/);
    const bundle = mustParse(text);
    assert.equal(bundle.leafPem, pki.rsaLeaf);
  });

  it('refuses inputs without a key or without certificates', () => {
    assert.throws(() => formatBundle(pki.rsaLeaf, pki.rsaLeaf), /expected one private key, found 0/);
    assert.throws(() => formatBundle(keyPem(pki.rsaKey, 'pkcs1'), ''), /no certificate/);
    assert.throws(() => formatBundle(keyPem(pki.rsaKey, 'pkcs1'), pki.rsaLeaf.slice(0, 100)), /malformed/);
  });
});

describe('certInfo', () => {
  it('reads one certificate and throws on anything else', () => {
    assert.deepEqual(certInfo(pki.ecLeaf).names, ['ec.example.test']);
    assert.equal(certInfo(pki.caPem).issuer, 'CN=Test CA');
    assert.throws(() => certInfo('blah'));
  });
});

/** PEM of `der` under `label`, as OpenSSL writes it. */
function derPem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

function spkiOf(certPem: string): SubjectPublicKeyInfo {
  const fields = certificateFields(new X509Certificate(certPem).raw);
  if (fields === undefined) assert.fail('the test certificate does not walk');
  return fields.spki;
}

/** What parseBundle answered before it learned to read keys itself: OpenSSL's decoder, then its key check. */
function openSslAccepts(key: string, certPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

const KEY_LABEL = { pkcs1: 'RSA PRIVATE KEY', pkcs8: 'PRIVATE KEY', sec1: 'EC PRIVATE KEY' } as const;

describe('the key check without OpenSSL', () => {
  const leafFor = (key: KeyObject, cn: string) => issue({ subjectKey: key, issuerKey: pki.caKey, subject: `CN=${cn}`, issuer: 'CN=Test CA' });

  it('recognises the key by its public part in every format HAProxy reads, RSA and P-256/384/521', async () => {
    const forms: [KeyObject, string, ('pkcs1' | 'pkcs8' | 'sec1')[]][] = [
      [pki.rsaKey, pki.rsaLeaf, ['pkcs1', 'pkcs8']],
      [pki.ecKey, pki.ecLeaf, ['sec1', 'pkcs8']],
    ];
    for (const curve of ['P-384', 'P-521']) {
      const key = (await generateKeyPairAsync('ec', { namedCurve: curve })).privateKey;
      forms.push([key, await leafFor(key, `${curve}.example.test`), ['sec1', 'pkcs8']]);
    }
    for (const [key, leaf, types] of forms) {
      for (const type of types) {
        const der = key.export({ type, format: 'der' });
        assert.equal(publicKeyMatches(KEY_LABEL[type], der, spkiOf(leaf)), true, `${key.asymmetricKeyDetails?.namedCurve ?? 'rsa'} ${type}`);
        assert.ok(parseBundle(derPem(KEY_LABEL[type], der) + leaf).ok);
      }
    }
  });

  it('does not vouch for another key, nor for the right key under the wrong label', () => {
    assert.equal(publicKeyMatches('RSA PRIVATE KEY', pki.otherKey.export({ type: 'pkcs1', format: 'der' }), spkiOf(pki.rsaLeaf)), false);
    assert.equal(publicKeyMatches('EC PRIVATE KEY', pki.ecKey.export({ type: 'sec1', format: 'der' }), spkiOf(pki.rsaLeaf)), false);
    assert.equal(publicKeyMatches('EC PRIVATE KEY', pki.caKey.export({ type: 'sec1', format: 'der' }), spkiOf(pki.ecLeaf)), false);
    assert.equal(publicKeyMatches('RSA PRIVATE KEY', pki.rsaKey.export({ type: 'pkcs8', format: 'der' }), spkiOf(pki.rsaLeaf)), false);
    mustFail(keyPem(pki.caKey, 'sec1') + pki.ecLeaf, /does not belong to any certificate/);
  });

  it('leaves an EC key without its public point to OpenSSL, which derives the point', () => {
    // ECPrivateKey { version 1, privateKey, [0] prime256v1 } without the optional [1] publicKey.
    const withoutPoint = (key: KeyObject) => {
      const scalar = Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url');
      const body = Buffer.concat([Buffer.from('020101', 'hex'), Buffer.from([0x04, scalar.length]), scalar, Buffer.from('a00a06082a8648ce3d030107', 'hex')]);
      return Buffer.concat([Buffer.from([0x30, body.length]), body]);
    };
    assert.equal(publicKeyMatches('EC PRIVATE KEY', withoutPoint(pki.ecKey), spkiOf(pki.ecLeaf)), false);
    assert.deepEqual(mustParse(derPem('EC PRIVATE KEY', withoutPoint(pki.ecKey)) + pki.ecLeaf).leaf.names, ['ec.example.test']);
    mustFail(derPem('EC PRIVATE KEY', withoutPoint(pki.caKey)) + pki.ecLeaf, /does not belong to any certificate/);
  });

  it('leaves other key types to OpenSSL (Ed25519)', async () => {
    const key = (await generateKeyPairAsync('ed25519')).privateKey;
    const leaf = await leafFor(key, 'ed.example.test');
    assert.equal(publicKeyMatches('PRIVATE KEY', key.export({ type: 'pkcs8', format: 'der' }), spkiOf(leaf)), false);
    assert.deepEqual(mustParse(keyPem(key, 'pkcs8') + leaf).leaf.names, ['ed.example.test']);
    mustFail(keyPem(key, 'pkcs8') + pki.ecLeaf, /does not belong to any certificate/);
  });

  it('rejects a key cut short inside a complete PEM block, and one with bytes added', () => {
    for (const type of ['pkcs1', 'pkcs8'] as const) {
      const der = pki.rsaKey.export({ type, format: 'der' });
      mustFail(derPem(KEY_LABEL[type], der.subarray(0, der.length - 40)) + pki.rsaLeaf, /private key cannot be read/);
      const longer = derPem(KEY_LABEL[type], Buffer.concat([der, Buffer.from('0500', 'hex')]));
      assert.equal(publicKeyMatches(KEY_LABEL[type], Buffer.concat([der, Buffer.from('0500', 'hex')]), spkiOf(pki.rsaLeaf)), false);
      assert.equal(parseBundle(longer + pki.rsaLeaf).ok, openSslAccepts(longer, pki.rsaLeaf), 'OpenSSL decides');
    }
    const sec1 = pki.ecKey.export({ type: 'sec1', format: 'der' });
    mustFail(derPem('EC PRIVATE KEY', sec1.subarray(0, 30)) + pki.ecLeaf, /private key cannot be read/);
  });

  it('rejects a certificate and key that share a point off the curve, as OpenSSL cannot load the key', () => {
    const sec1 = pki.ecKey.export({ type: 'sec1', format: 'der' });
    const point = sec1.subarray(sec1.length - 65);
    const leafDer = Buffer.from(new X509Certificate(pki.ecLeaf).raw);
    const at = leafDer.indexOf(point);
    assert.ok(at > 0);
    const badKey = Buffer.from(sec1);
    const last = badKey.length - 1;
    badKey[last] = (badKey[last] ?? 0) ^ 1;
    leafDer[at + 64] = (leafDer[at + 64] ?? 0) ^ 1;
    const leaf = derPem('CERTIFICATE', leafDer);
    assert.equal(publicKeyMatches('EC PRIVATE KEY', badKey, spkiOf(leaf)), false);
    mustFail(derPem('EC PRIVATE KEY', badKey) + leaf, /private key cannot be read/);
  });

  it('agrees with OpenSSL on keys with a byte changed anywhere, and vouches only for keys OpenSSL accepts', () => {
    const cases = [
      { label: KEY_LABEL.pkcs1, der: pki.rsaKey.export({ type: 'pkcs1', format: 'der' }), leaf: pki.rsaLeaf },
      { label: KEY_LABEL.pkcs8, der: pki.rsaKey.export({ type: 'pkcs8', format: 'der' }), leaf: pki.rsaLeaf },
      { label: KEY_LABEL.sec1, der: pki.ecKey.export({ type: 'sec1', format: 'der' }), leaf: pki.ecLeaf },
      { label: KEY_LABEL.pkcs8, der: pki.ecKey.export({ type: 'pkcs8', format: 'der' }), leaf: pki.ecLeaf },
    ];
    let vouched = 0;
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.nat(), fc.integer({ min: 0, max: 255 }), (c, position, byte) => {
        const der = Buffer.from(c.der);
        der[position % der.length] = byte;
        const key = derPem(c.label, der);
        const openSsl = openSslAccepts(key, c.leaf);
        assert.equal(parseBundle(key + c.leaf).ok, openSsl);
        if (publicKeyMatches(c.label, der, spkiOf(c.leaf))) {
          vouched++;
          assert.ok(openSsl, 'vouched for a key OpenSSL refuses');
        }
      }),
      { numRuns: 400 },
    );
    assert.ok(vouched > 50, `the check itself vouched for ${vouched} of 400 keys`);
  });
});
