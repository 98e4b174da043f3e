/**
 * Just enough DER reading for what OpenSSL (through node:crypto) does not expose or exposes slowly:
 * a certificate's serial with its leading 00, its Authority Key Identifier and its public key bytes,
 * and the public parts of private keys. Every reader answers undefined for bytes it does not
 * understand, so callers can fall back to OpenSSL.
 */

export const SEQUENCE = 0x30;
export const INTEGER = 0x02;
export const BIT_STRING = 0x03;
export const OCTET_STRING = 0x04;
export const NULL = 0x05;
export const OID = 0x06;
const VERSION_TAG = 0xa0;
const EXTENSIONS_TAG = 0xa3;
const KEY_IDENTIFIER_TAG = 0x80;
/** The OID 2.5.29.35's content bytes in hex. */
const OID_AUTHORITY_KEY_ID = '551d23';

/**
 * What parseBundle and ARI need from a certificate, read from its DER rather than through OpenSSL,
 * which has no accessor for the serial's leading 00 or the AKI keyIdentifier:
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
 *   tbsCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, signature, issuer,
 *     validity, subject, subjectPublicKeyInfo, [1] issuerUID OPTIONAL, [2] subjectUID OPTIONAL,
 *     [3] extensions OPTIONAL }
 */
export interface CertificateFields {
  /** The serial INTEGER's content bytes, leading 00 kept. */
  serial: Buffer;
  spki: SubjectPublicKeyInfo;
  /** The Authority Key Identifier extension when there is one; RFC 5280 makes its keyIdentifier optional. */
  authorityKeyId: { keyIdentifier: Buffer | undefined } | undefined;
}

export interface SubjectPublicKeyInfo {
  /** The algorithm OID's content bytes, in hex. */
  algorithm: string;
  /** The algorithm parameters' whole encoding (for EC, the named curve's OID). */
  parameters: Buffer | undefined;
  /** The BIT STRING's content, unused-bits byte included. */
  publicKey: Buffer;
}

/** Undefined when the bytes are not a certificate's DER as above. */
export function certificateFields(der: Buffer): CertificateFields | undefined {
  const [tbs] = sequenceOf(der, readTlv(der, 0)) ?? [];
  const fields = sequenceOf(der, tbs);
  if (fields === undefined) return undefined;
  const first = fields[0]?.tag === VERSION_TAG ? 1 : 0;
  const serial = fields[first];
  const spki = readSpki(der, fields[first + 5]);
  if (serial?.tag !== INTEGER || serial.end === serial.contentStart || spki === undefined) return undefined;
  const extensionsTag = fields.slice(first + 6).find((f) => f.tag === EXTENSIONS_TAG);
  let authorityKeyId: CertificateFields['authorityKeyId'];
  if (extensionsTag !== undefined) {
    const [list] = childrenOf(der, extensionsTag) ?? [];
    const extensions = sequenceOf(der, list);
    if (extensions === undefined) return undefined;
    for (const extension of extensions) {
      // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
      const parts = sequenceOf(der, extension);
      const id = parts?.[0];
      const value = parts?.at(-1);
      if (id?.tag !== OID || value?.tag !== OCTET_STRING || parts === undefined || parts.length < 2) return undefined;
      if (hex(der, id) !== OID_AUTHORITY_KEY_ID) continue;
      // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
      const inner = readTlv(der, value.contentStart);
      const aki = inner?.end === value.end ? sequenceOf(der, inner) : undefined;
      if (aki === undefined) return undefined;
      const keyIdentifier = aki.find((f) => f.tag === KEY_IDENTIFIER_TAG);
      authorityKeyId = { keyIdentifier: keyIdentifier === undefined ? undefined : content(der, keyIdentifier) };
      break;
    }
  }
  return { serial: content(der, serial), spki, authorityKeyId };
}

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, parameters ANY OPTIONAL }, BIT STRING } */
function readSpki(der: Buffer, spki: Tlv | undefined): SubjectPublicKeyInfo | undefined {
  const parts = sequenceOf(der, spki);
  const [algorithm, publicKey] = parts ?? [];
  const [oid, parameters, ...extra] = sequenceOf(der, algorithm) ?? [];
  if (parts?.length !== 2 || oid?.tag !== OID || extra.length > 0 || publicKey?.tag !== BIT_STRING) return undefined;
  return {
    algorithm: hex(der, oid),
    parameters: parameters === undefined ? undefined : whole(der, parameters),
    publicKey: content(der, publicKey),
  };
}

export interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

export function readTlv(der: Buffer, offset: number): Tlv | undefined {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) return undefined;
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) return undefined;
    length = 0;
    for (let n = 0; n < count; n++) {
      const byte = der[offset + 2 + n];
      if (byte === undefined) return undefined;
      length = length * 256 + byte;
    }
    contentStart += count;
  }
  const end = contentStart + length;
  return end > der.length ? undefined : { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed TLV; undefined unless they fill it exactly. */
export function childrenOf(der: Buffer, parent: Tlv): Tlv[] | undefined {
  const children: Tlv[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readTlv(der, offset);
    if (child === undefined || child.end > parent.end) return undefined;
    children.push(child);
    offset = child.end;
  }
  return children;
}

export function sequenceOf(der: Buffer, tlv: Tlv | undefined): Tlv[] | undefined {
  return tlv?.tag === SEQUENCE ? childrenOf(der, tlv) : undefined;
}

export function content(der: Buffer, tlv: Tlv): Buffer {
  return der.subarray(tlv.contentStart, tlv.end);
}

export function whole(der: Buffer, tlv: Tlv): Buffer {
  return der.subarray(tlv.start, tlv.end);
}

export function hex(der: Buffer, tlv: Tlv): string {
  return content(der, tlv).toString('hex');
}
