/**
 * The two facts a status row shows that the parsed bundle does not carry: the key type and the
 * issuer's short name. Read from the certificate's DER where that is enough (an X509Certificate
 * costs about 0.4 ms, which for 5,000 certificates is seconds of a daemon's event loop on every
 * fresh /status view); Node's parser only for what the DER walk does not know.
 */
import { X509Certificate } from 'node:crypto';
import { certificateFields, childrenOf, content, INTEGER, OID, readTlv, sequenceOf, type Tlv } from '../certs/der.js';

const RSA = '2a864886f70d010101';
const EC = '2a8648ce3d0201';
const ED25519 = '2b6570';
/** Named curves by their OID's whole encoding in hex. */
const CURVES: ReadonlyMap<string, string> = new Map([
  ['06082a8648ce3d030107', 'P-256'],
  ['06052b81040022', 'P-384'],
  ['06052b81040023', 'P-521'],
]);
const NODE_CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

const SET = 0x31;
const VERSION_TAG = 0xa0;
/** UTF8String, PrintableString, IA5String: the string types read here; others go to Node. */
const TEXT_TAGS = new Set([0x0c, 0x13, 0x16]);
const OID_CN = '550403';
const OID_O = '55040a';

export interface CertificateFacts {
  /** As people name key types: `RSA 2048`, `ECDSA P-256`, `Ed25519` (others: Node's name). */
  keyType: string;
  /** `R11 (Let's Encrypt)` from the issuer's CN and O; the whole DN when it has neither. */
  issuer: string;
}

export function certificateFacts(leafPem: string): CertificateFacts {
  const der = Buffer.from(leafPem.replace(/-----[^-]*-----/g, '').replace(/\s+/g, ''), 'base64');
  let node: X509Certificate | undefined;
  const parsed = (): X509Certificate => (node ??= new X509Certificate(leafPem));
  return {
    keyType: keyTypeOf(der) ?? keyTypeByNode(parsed()),
    issuer: issuerOf(der) ?? shortIssuer(parsed().issuer),
  };
}

function keyTypeOf(der: Buffer): string | undefined {
  const spki = certificateFields(der)?.spki;
  if (spki?.algorithm === ED25519) return 'Ed25519';
  if (spki?.algorithm === EC && spki.parameters !== undefined) {
    const curve = CURVES.get(spki.parameters.toString('hex'));
    if (curve !== undefined) return `ECDSA ${curve}`;
  }
  if (spki?.algorithm === RSA) {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, after the BIT STRING's unused-bits byte.
    const key = spki.publicKey.subarray(1);
    const [modulus] = sequenceOf(key, readTlv(key, 0)) ?? [];
    if (modulus?.tag === INTEGER) {
      const bytes = content(key, modulus);
      const start = bytes.findIndex((b) => b !== 0);
      const top = bytes[start];
      if (top !== undefined) return `RSA ${(bytes.length - start - 1) * 8 + (32 - Math.clz32(top))}`;
    }
  }
  return undefined;
}

/**
 * The issuer's first CN and O from the DER: tbsCertificate's third field (after the optional
 * version) is the issuer Name, a SEQUENCE of SETs of { OID, string }. Undefined when it holds
 * neither, or a string type not read here.
 */
function issuerOf(der: Buffer): string | undefined {
  const [tbs] = sequenceOf(der, readTlv(der, 0)) ?? [];
  const fields = sequenceOf(der, tbs);
  const first = fields?.[0]?.tag === VERSION_TAG ? 1 : 0;
  const rdns = sequenceOf(der, fields?.[first + 2]);
  if (rdns === undefined) return undefined;
  const found = new Map<string, string>();
  for (const rdn of rdns) {
    if (rdn.tag !== SET) return undefined;
    for (const attribute of childrenOf(der, rdn) ?? []) {
      const [oid, value] = sequenceOf(der, attribute) ?? [];
      if (oid?.tag !== OID || value === undefined) return undefined;
      const type = content(der, oid).toString('hex');
      if ((type !== OID_CN && type !== OID_O) || found.has(type)) continue;
      const text = textOf(der, value);
      if (text === undefined) return undefined;
      found.set(type, text);
    }
  }
  const cn = found.get(OID_CN);
  const o = found.get(OID_O);
  if (cn !== undefined && o !== undefined) return `${cn} (${o})`;
  return cn ?? o;
}

function textOf(der: Buffer, value: Tlv): string | undefined {
  return TEXT_TAGS.has(value.tag) ? content(der, value).toString('utf8') : undefined;
}

function keyTypeByNode(certificate: X509Certificate): string {
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return `RSA ${details?.modulusLength ?? '?'}`;
    case 'ec': {
      const curve = details?.namedCurve;
      return `ECDSA ${curve === undefined ? '?' : (NODE_CURVES[curve] ?? curve)}`;
    }
    case 'ed25519':
      return 'Ed25519';
    default:
      return key.asymmetricKeyType ?? 'unknown';
  }
}

/** From Node's one-attribute-per-line DN, where a value's own commas cannot be mistaken for separators. */
function shortIssuer(dn: string): string {
  const attributes = dn.split('\n');
  const value = (type: string): string | undefined => attributes.find((a) => a.startsWith(`${type}=`))?.slice(type.length + 1);
  const cn = value('CN');
  const o = value('O');
  if (cn !== undefined && o !== undefined) return `${cn} (${o})`;
  return cn ?? o ?? attributes.filter((a) => a !== '').join(', ');
}
