/**
 * JSON Web Signatures as ACME uses them (RFC 8555 §6.2): flattened JSON serialization, signed with
 * the account key, identified by a JWK (newAccount, the inner keyChange JWS) or by the account URL
 * (`kid`, everything else). Also the JWK thumbprint (RFC 7638) behind key authorizations and the
 * HS256 external account binding (§7.3.4).
 */
import { createHash, createHmac, createPrivateKey, createSecretKey, sign, type KeyObject } from 'node:crypto';

export type AccountAlgorithm = 'RS256' | 'ES256' | 'ES384';
/** The algorithms a JWS can carry here: an account key's, or HS256 for the external account binding. */
export type JwsAlgorithm = AccountAlgorithm | 'HS256';

export type PublicJwk = { kty: 'RSA'; n: string; e: string } | { kty: 'EC'; crv: 'P-256' | 'P-384'; x: string; y: string };

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** The account key, ready to sign: RSA (>= 2048 bits) → RS256, EC P-256 → ES256, P-384 → ES384. */
export interface AccountSigner {
  readonly alg: AccountAlgorithm;
  readonly jwk: PublicJwk;
  readonly thumbprint: string;
  readonly key: KeyObject;
}

/** Below this, CAs refuse the key (Let's Encrypt and pebble alike), so better to say so up front. */
const MIN_RSA_BITS = 2048;

const EC_ALGORITHMS: Readonly<Record<string, AccountAlgorithm>> = { prime256v1: 'ES256', secp384r1: 'ES384' };

/** `key` is a private KeyObject or its PEM (PKCS#1, SEC1 or PKCS#8); anything else throws naming the key type. */
export function accountSigner(key: KeyObject | string): AccountSigner {
  const privateKey = typeof key === 'string' ? createPrivateKey(key) : key;
  if (privateKey.type !== 'private') throw new Error(`ACME account key: a private key is needed to sign, got a ${privateKey.type} key`);
  const alg = accountAlgorithm(privateKey);
  const jwk = publicJwk(privateKey);
  return { alg, jwk, thumbprint: jwkThumbprint(jwk), key: privateKey };
}

function accountAlgorithm(key: KeyObject): AccountAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  if (type === 'rsa') {
    const bits = details?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`ACME account key: RSA keys need at least ${MIN_RSA_BITS} bits, this one has ${bits}`);
    return 'RS256';
  }
  if (type === 'ec') {
    const curve = details?.namedCurve ?? 'unknown';
    const alg = EC_ALGORITHMS[curve];
    if (alg === undefined) throw new Error(`ACME account key: EC curve ${curve} is not supported (P-256 or P-384 are)`);
    return alg;
  }
  throw new Error(`ACME account key: ${type ?? 'unknown'} keys are not supported (RSA, EC P-256 or EC P-384 are)`);
}

/** The public JWK of an RSA or EC key, private or public, with only the members RFC 7638 requires. */
export function publicJwk(key: KeyObject): PublicJwk {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string') return { kty: 'RSA', n: jwk.n, e: jwk.e };
  if (jwk.kty === 'EC' && (jwk.crv === 'P-256' || jwk.crv === 'P-384') && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
    return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  }
  throw new Error(`ACME account key: no JWK for a ${key.asymmetricKeyType ?? 'unknown'} key${jwk.crv === undefined ? '' : ` on curve ${jwk.crv}`}`);
}

/**
 * RFC 7638 §3: SHA-256 over the required members in lexicographic order, without whitespace. Built by
 * hand rather than with JSON.stringify(jwk) so that the member order cannot depend on how the JWK
 * object was put together.
 */
export function jwkThumbprint(jwk: PublicJwk): string {
  const canonical =
    jwk.kty === 'RSA'
      ? `{"e":${JSON.stringify(jwk.e)},"kty":"RSA","n":${JSON.stringify(jwk.n)}}`
      : `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

/** RFC 8555 §8.1: what the HTTP-01 challenge file must contain. */
export function keyAuthorization(token: string, thumbprint: string): string {
  return `${token}.${thumbprint}`;
}

/**
 * The base64url signature of a JWS signing input (`protected.payload`, both already base64url).
 * ECDSA signatures are r||s of fixed width (RFC 7518 §3.4), not the DER node:crypto produces by default.
 */
export function jwsSignature(alg: JwsAlgorithm, key: KeyObject, signingInput: string): string {
  switch (alg) {
    case 'HS256':
      return createHmac('sha256', key).update(signingInput).digest('base64url');
    case 'RS256':
      return sign('sha256', Buffer.from(signingInput), key).toString('base64url');
    case 'ES256':
      return sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    case 'ES384':
      return sign('sha384', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  }
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * RFC 8555 §6.2: protected header {alg, kid | jwk, nonce, url}. With `kid` the account URL names the
 * key, without it the JWK is sent (newAccount, the inner keyChange JWS). No nonce for the inner
 * keyChange JWS (§7.3.5). `payload` undefined is a POST-as-GET (§6.3): an empty payload, not "{}".
 */
export function signJws(signer: AccountSigner, header: { url: string; nonce?: string | undefined; kid?: string | undefined }, payload: unknown): FlattenedJws {
  const protectedHeader: Record<string, unknown> = { alg: signer.alg };
  if (header.kid !== undefined) protectedHeader['kid'] = header.kid;
  else protectedHeader['jwk'] = signer.jwk;
  if (header.nonce !== undefined) protectedHeader['nonce'] = header.nonce;
  protectedHeader['url'] = header.url;
  const protectedB64 = base64urlJson(protectedHeader);
  const payloadB64 = payload === undefined ? '' : base64urlJson(payload);
  return { protected: protectedB64, payload: payloadB64, signature: jwsSignature(signer.alg, signer.key, `${protectedB64}.${payloadB64}`) };
}

/**
 * RFC 8555 §7.3.4: the `externalAccountBinding` member of a newAccount payload: an HS256 JWS over
 * the account's JWK, keyed by the MAC key the CA handed out (base64url), protected {alg, kid, url}.
 */
export function externalAccountBinding(options: { kid: string; hmacKey: string; url: string; jwk: PublicJwk }): FlattenedJws {
  const secret = Buffer.from(options.hmacKey, 'base64url');
  if (secret.length === 0) throw new Error(`ACME external account binding for key id ${options.kid}: the HMAC key is empty or not base64url`);
  const protectedB64 = base64urlJson({ alg: 'HS256', kid: options.kid, url: options.url });
  const payloadB64 = base64urlJson(options.jwk);
  return { protected: protectedB64, payload: payloadB64, signature: jwsSignature('HS256', createSecretKey(secret), `${protectedB64}.${payloadB64}`) };
}
