/**
 * Whether a private key belongs to a certificate, read from the key's own copy of its public part
 * instead of through OpenSSL's key decoder (about 0.5 ms per key, most of what reading a stored
 * bundle costs at start-up).
 */
import { BIT_STRING, childrenOf, content, hex, INTEGER, NULL, OCTET_STRING, OID, readTlv, sequenceOf, whole, type SubjectPublicKeyInfo, type Tlv } from './der.js';

const EC_CURVE_TAG = 0xa0;
const EC_PUBLIC_KEY_TAG = 0xa1;
/** OID content bytes in hex: 1.2.840.113549.1.1.1 (rsaEncryption), 1.2.840.10045.2.1 (id-ecPublicKey). */
const OID_RSA = '2a864886f70d010101';
const OID_EC = '2a8648ce3d0201';
/**
 * The curves OpenSSL and ACME CAs use, by their OID's whole encoding in hex: field size in bytes and
 * the p and b of y² = x³ - 3x + b (mod p) (FIPS 186-5 / SEC 2).
 */
const CURVES = new Map<string, { size: number; p: bigint; b: bigint }>([
  ['06082a8648ce3d030107', {
    size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  }],
  ['06052b81040022', {
    size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  }],
  ['06052b81040023', {
    size: 66,
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  }],
]);

/**
 * True only when the key is well-formed DER of a kind known here and carries the very public key of
 * `spki`, which is the comparison X509_check_private_key (and so HAProxy) makes. False means "not
 * shown here", not "wrong key": the caller then asks OpenSSL. Anything unusual (PKCS#8 attributes,
 * multi-prime RSA, explicit curve parameters, a compressed point) is left to OpenSSL too, so that a
 * key OpenSSL would refuse never passes here.
 */
export function publicKeyMatches(label: string, der: Buffer, spki: SubjectPublicKeyInfo): boolean {
  const top = readTlv(der, 0);
  const fields = top?.end === der.length ? sequenceOf(der, top) : undefined;
  if (fields === undefined) return false;
  if (label === 'RSA PRIVATE KEY') return rsaMatches(der, fields, spki);
  if (label === 'EC PRIVATE KEY') return ecMatches(der, fields, undefined, spki);
  // PKCS#8: SEQUENCE { version 0, AlgorithmIdentifier, privateKey OCTET STRING (the type's own format) }
  const [version, algorithm, privateKey, ...optional] = fields;
  if (version?.tag !== INTEGER || hex(der, version) !== '00' || privateKey?.tag !== OCTET_STRING || optional.length > 0) return false;
  const [oid, parameters, ...extra] = sequenceOf(der, algorithm) ?? [];
  const inner = readTlv(der, privateKey.contentStart);
  const innerFields = inner?.end === privateKey.end ? sequenceOf(der, inner) : undefined;
  if (oid?.tag !== OID || parameters === undefined || extra.length > 0 || innerFields === undefined) return false;
  const kind = hex(der, oid);
  if (kind === OID_RSA) return parameters.tag === NULL && parameters.end === parameters.contentStart && rsaMatches(der, innerFields, spki);
  if (kind === OID_EC) return parameters.tag === OID && ecMatches(der, innerFields, whole(der, parameters), spki);
  return false;
}

/** RSAPrivateKey ::= SEQUENCE { version 0, n, e, d, p, q, dP, dQ, qInv }; RSAPublicKey ::= SEQUENCE { n, e } */
function rsaMatches(der: Buffer, fields: Tlv[], spki: SubjectPublicKeyInfo): boolean {
  const [version, modulus, exponent] = fields;
  if (fields.length !== 9 || !fields.every((f) => isUnsignedInteger(der, f)) || version === undefined || hex(der, version) !== '00') return false;
  if (spki.algorithm !== OID_RSA || modulus === undefined || exponent === undefined || spki.publicKey[0] !== 0) return false;
  const bits = spki.publicKey.subarray(1);
  const top = readTlv(bits, 0);
  const [certModulus, certExponent, ...extra] = (top?.end === bits.length ? sequenceOf(bits, top) : undefined) ?? [];
  if (certModulus?.tag !== INTEGER || certExponent?.tag !== INTEGER || extra.length > 0) return false;
  return content(der, modulus).equals(content(bits, certModulus)) && content(der, exponent).equals(content(bits, certExponent));
}

/**
 * ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] curve OID OPTIONAL,
 * [1] publicKey BIT STRING OPTIONAL }; in PKCS#8 the curve is in the AlgorithmIdentifier instead.
 */
function ecMatches(der: Buffer, fields: Tlv[], outerCurve: Buffer | undefined, spki: SubjectPublicKeyInfo): boolean {
  const [version, privateKey, ...optional] = fields;
  if (version?.tag !== INTEGER || hex(der, version) !== '01' || privateKey?.tag !== OCTET_STRING) return false;
  // Without the [1] public point there is nothing to compare.
  const curveField = optional[0]?.tag === EC_CURVE_TAG ? optional[0] : undefined;
  const [publicField, ...extraFields] = optional.slice(curveField === undefined ? 0 : 1);
  if (publicField?.tag !== EC_PUBLIC_KEY_TAG || extraFields.length > 0) return false;
  const [point, ...extraPoint] = childrenOf(der, publicField) ?? [];
  const [curveOid, ...extraCurve] = curveField === undefined ? [] : (childrenOf(der, curveField) ?? []);
  if (point?.tag !== BIT_STRING || extraPoint.length > 0 || extraCurve.length > 0 || (curveField !== undefined && curveOid?.tag !== OID)) return false;
  const innerCurve = curveOid === undefined ? undefined : whole(der, curveOid);
  if (outerCurve !== undefined && innerCurve !== undefined && !outerCurve.equals(innerCurve)) return false;
  const curve = outerCurve ?? innerCurve;
  const params = curve === undefined ? undefined : CURVES.get(curve.toString('hex'));
  const scalarLength = privateKey.end - privateKey.contentStart;
  if (curve === undefined || params === undefined || scalarLength === 0 || scalarLength > params.size) return false;
  if (spki.algorithm !== OID_EC || spki.parameters === undefined || !spki.parameters.equals(curve)) return false;
  const publicKey = content(der, point);
  // A compressed point differs in bytes from the same point uncompressed: only 00 (no unused bits),
  // 04 (uncompressed) and both coordinates are compared here.
  if (publicKey.length !== 2 + 2 * params.size || publicKey[0] !== 0 || publicKey[1] !== 0x04 || !publicKey.equals(spki.publicKey)) return false;
  // OpenSSL refuses a key whose point is not on its curve, and X509Certificate does not look: a file
  // whose certificate and key share such a point must not pass as HAProxy-loadable.
  const x = BigInt(`0x${publicKey.toString('hex', 2, 2 + params.size)}`);
  const y = BigInt(`0x${publicKey.toString('hex', 2 + params.size)}`);
  return x < params.p && y < params.p && (y * y - x * x * x + 3n * x - params.b) % params.p === 0n;
}

/** DER's minimal two's-complement encoding of a number >= 0, which is all OpenSSL accepts for these. */
function isUnsignedInteger(der: Buffer, tlv: Tlv): boolean {
  const first = der[tlv.contentStart];
  const second = tlv.end - tlv.contentStart > 1 ? der[tlv.contentStart + 1] : undefined;
  if (tlv.tag !== INTEGER || first === undefined || first >= 0x80) return false;
  return !(first === 0 && second !== undefined && second < 0x80);
}
