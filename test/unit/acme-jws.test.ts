import assert from 'node:assert/strict';
import { createHash, createHmac, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  accountSigner,
  externalAccountBinding,
  jwkThumbprint,
  jwsSignature,
  keyAuthorization,
  publicJwk,
  signJws,
  type FlattenedJws,
  type PublicJwk,
} from '../../src/acme/protocol/jws.js';

// The vectors below are copied from RFC 7515 Appendix A and RFC 7638 §3.1 (looked up as quoted in
// other JOSE libraries' test suites, which agree with each other). The RFC examples sign JSON with
// CRLF line breaks, so their signing inputs are used as given rather than rebuilt with signJws.
const RFC7515_PAYLOAD = 'eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ';

/** RFC 7515 A.2's RSA key. */
const RFC7515_A2_JWK = {
  kty: 'RSA',
  n: 'ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ',
  e: 'AQAB',
  d: 'Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ',
  p: '4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc',
  q: 'uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc',
  dp: 'BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0',
  dq: 'h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU',
  qi: 'IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U',
} satisfies JsonWebKey;

/** RFC 7515 A.3's EC P-256 key. */
const RFC7515_A3_JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
  d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI',
} satisfies JsonWebKey;

const rsaKey = createPrivateKey({ key: RFC7515_A2_JWK, format: 'jwk' });
const p256Key = createPrivateKey({ key: RFC7515_A3_JWK, format: 'jwk' });

function decodeJson(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Checks a flattened JWS with node:crypto alone, against the public key the test expects it to be signed with. */
function verifies(jws: FlattenedJws, publicKey: KeyObject): boolean {
  const header = decodeJson(jws.protected) as { alg: string };
  const data = Buffer.from(`${jws.protected}.${jws.payload}`);
  const signature = Buffer.from(jws.signature, 'base64url');
  const digest = header.alg === 'ES384' ? 'sha384' : 'sha256';
  return verify(digest, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
}

describe('JWS signatures: RFC 7515 known answers', () => {
  it('A.1: HS256 gives the RFC signature', () => {
    const key = createSecretKey(Buffer.from('AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow', 'base64url'));
    const signingInput = `eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.${RFC7515_PAYLOAD}`;
    assert.equal(jwsSignature('HS256', key, signingInput), 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
  });

  it('A.2: RS256 (PKCS#1 v1.5, deterministic) gives the RFC signature', () => {
    const signingInput = `eyJhbGciOiJSUzI1NiJ9.${RFC7515_PAYLOAD}`;
    const expected =
      'cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4' +
      'BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv' +
      'hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw';
    assert.equal(jwsSignature('RS256', rsaKey, signingInput), expected);
  });

  it("A.3: the RFC's ES256 signature verifies with the public JWK we derive from its key", () => {
    // ECDSA is randomised, so the RFC's signature cannot be reproduced; what can be checked is that
    // our JWK names the same public key and that r||s (not DER) is the encoding.
    const jwk = publicJwk(p256Key);
    assert.deepEqual(jwk, { kty: 'EC', crv: 'P-256', x: RFC7515_A3_JWK.x, y: RFC7515_A3_JWK.y });
    const rfc: FlattenedJws = {
      protected: 'eyJhbGciOiJFUzI1NiJ9',
      payload: RFC7515_PAYLOAD,
      signature: 'DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q',
    };
    assert.ok(verifies(rfc, createPublicKey({ key: jwk, format: 'jwk' })));
    assert.ok(!verifies({ ...rfc, payload: RFC7515_PAYLOAD.slice(1) }, createPublicKey({ key: jwk, format: 'jwk' })), 'a changed payload fails');
  });

  it('ES256 and ES384 signatures are r||s of 64 and 96 bytes that node:crypto verifies', () => {
    const p384Key = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    for (const [key, alg, bytes] of [[p256Key, 'ES256', 64] as const, [p384Key, 'ES384', 96] as const]) {
      const signer = accountSigner(key);
      assert.equal(signer.alg, alg);
      const jws = signJws(signer, { url: 'https://ca.test/acme/new-order', nonce: 'n1', kid: 'https://ca.test/acme/acct/1' }, { identifiers: [] });
      assert.equal(Buffer.from(jws.signature, 'base64url').length, bytes, alg);
      assert.ok(verifies(jws, createPublicKey(key)), alg);
    }
  });
});

describe('JWK thumbprints (RFC 7638)', () => {
  it('§3.1: the RFC example key gives the RFC thumbprint', () => {
    const jwk: PublicJwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
    };
    assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('does not depend on the order of the JWK members', () => {
    const { x, y } = RFC7515_A3_JWK;
    assert.equal(jwkThumbprint({ y, x, crv: 'P-256', kty: 'EC' }), jwkThumbprint({ kty: 'EC', crv: 'P-256', x, y }));
  });

  it('EC: SHA-256 over {"crv","kty","x","y"} (canonical form written out by hand, digest from node:crypto)', () => {
    const { x, y } = RFC7515_A3_JWK;
    const canonical = `{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`;
    assert.equal(jwkThumbprint({ kty: 'EC', crv: 'P-256', x, y }), createHash('sha256').update(canonical).digest('base64url'));
  });

  it('key authorization is token.thumbprint (RFC 8555 §8.1)', () => {
    const signer = accountSigner(rsaKey);
    assert.equal(keyAuthorization('evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA', signer.thumbprint), `evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.${signer.thumbprint}`);
  });
});

describe('signJws (RFC 8555 §6.2)', () => {
  const url = 'https://ca.test/acme/order/1';

  it('with a kid: protected {alg, kid, nonce, url}, no jwk', () => {
    const signer = accountSigner(rsaKey);
    const jws = signJws(signer, { url, nonce: 'bm9uY2U', kid: 'https://ca.test/acme/acct/7' }, { status: 'deactivated' });
    assert.deepEqual(decodeJson(jws.protected), { alg: 'RS256', kid: 'https://ca.test/acme/acct/7', nonce: 'bm9uY2U', url });
    assert.deepEqual(decodeJson(jws.payload), { status: 'deactivated' });
    assert.ok(verify('sha256', Buffer.from(`${jws.protected}.${jws.payload}`), createPublicKey(rsaKey), Buffer.from(jws.signature, 'base64url')));
  });

  it('without a kid: the public JWK instead, with only its required members', () => {
    const signer = accountSigner(rsaKey);
    const jws = signJws(signer, { url, nonce: 'bm9uY2U' }, { termsOfServiceAgreed: true });
    assert.deepEqual(decodeJson(jws.protected), { alg: 'RS256', jwk: { kty: 'RSA', n: RFC7515_A2_JWK.n, e: 'AQAB' }, nonce: 'bm9uY2U', url });
  });

  it('POST-as-GET: an undefined payload is the empty string, not "{}"', () => {
    const signer = accountSigner(p256Key);
    assert.equal(signJws(signer, { url, nonce: 'bm9uY2U', kid: 'k' }, undefined).payload, '');
    assert.equal(signJws(signer, { url, nonce: 'bm9uY2U', kid: 'k' }, {}).payload, 'e30');
  });

  it('no nonce member when none is given (the inner keyChange JWS, RFC 8555 §7.3.5)', () => {
    const jws = signJws(accountSigner(p256Key), { url }, { account: 'https://ca.test/acme/acct/7' });
    assert.deepEqual(Object.keys(decodeJson(jws.protected) as object).sort(), ['alg', 'jwk', 'url']);
  });
});

describe('externalAccountBinding (RFC 8555 §7.3.4)', () => {
  const hmacKey = 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow';
  const url = 'https://ca.test/acme/new-account';

  it('is an HS256 JWS over the account JWK, protected {alg, kid, url}, keyed by the decoded MAC key', () => {
    const jwk = accountSigner(p256Key).jwk;
    const eab = externalAccountBinding({ kid: 'eab-kid-1', hmacKey, url, jwk });
    assert.deepEqual(decodeJson(eab.protected), { alg: 'HS256', kid: 'eab-kid-1', url });
    assert.deepEqual(decodeJson(eab.payload), jwk);
    const expected = createHmac('sha256', Buffer.from(hmacKey, 'base64url')).update(`${eab.protected}.${eab.payload}`).digest('base64url');
    assert.equal(eab.signature, expected);
  });

  it('refuses an empty MAC key, naming the key id', () => {
    assert.throws(() => externalAccountBinding({ kid: 'eab-kid-1', hmacKey: '', url, jwk: accountSigner(p256Key).jwk }), /eab-kid-1.*HMAC key/);
  });
});

describe('accountSigner', () => {
  it('reads PKCS#1, SEC1 and PKCS#8 PEM as well as KeyObjects', () => {
    const pkcs1 = rsaKey.export({ type: 'pkcs1', format: 'pem' });
    const sec1 = p256Key.export({ type: 'sec1', format: 'pem' });
    const pkcs8 = p256Key.export({ type: 'pkcs8', format: 'pem' });
    assert.equal(accountSigner(pkcs1).alg, 'RS256');
    assert.equal(accountSigner(sec1).alg, 'ES256');
    assert.equal(accountSigner(pkcs8).thumbprint, accountSigner(p256Key).thumbprint);
    assert.equal(accountSigner(rsaKey).thumbprint, jwkThumbprint({ kty: 'RSA', n: RFC7515_A2_JWK.n, e: 'AQAB' }));
  });

  it('refuses keys a CA would refuse or that cannot sign, naming what they are', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(() => accountSigner(small.privateKey), /at least 2048 bits, this one has 1024/);
    assert.throws(() => accountSigner(generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey), /curve secp521r1/);
    assert.throws(() => accountSigner(generateKeyPairSync('ed25519').privateKey), /ed25519 keys are not supported/);
    assert.throws(() => accountSigner(small.publicKey), /private key is needed/);
  });
});
