/**
 * Certificate bundles as marathon-lb's HAProxy reads them from certs/: one private key, the server
 * certificate, then the chain. The checks mirror what makes HAProxy refuse a file, because one refused
 * file makes it refuse the whole configuration (and so every site on the load balancer).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { certificateFields, type CertificateFields } from './der.js';
import { publicKeyMatches } from './key-match.js';
import { joinPem, splitPem, type PemBlock } from './pem.js';
import { errorText } from '../util/error-text.js';

export interface CertInfo {
  /** DNS subjectAltNames in lower case, in certificate order; the CN(s) when there is no DNS SAN. */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** The serial's DER content bytes in lower-case hex, leading 00 kept (what an ARI certID needs). */
  serialHex: string;
  /** Issuer DN, one line, e.g. `C=US, O=Let's Encrypt, CN=R11`. */
  issuer: string;
  /** SHA-256 fingerprint as Node prints it (`AB:CD:...`). */
  fingerprint256: string;
  /** The Authority Key Identifier's keyIdentifier in lower-case hex; undefined when there is none. */
  authorityKeyIdHex: string | undefined;
}

export interface Bundle {
  keyPem: string;
  leafPem: string;
  chainPems: string[];
  leaf: CertInfo;
  /** Things HAProxy tolerates but a person may want to know about (stray text, unused blocks). */
  warnings: string[];
}

export type BundleResult = { ok: true; bundle: Bundle } | { ok: false; reason: string };

const KEY_LABELS = new Set(['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY']);
const CERT_LABEL = 'CERTIFICATE';

const fail = (reason: string): BundleResult => ({ ok: false, reason });

/**
 * Never throws. The key may be anywhere in the file (HAProxy searches for it), but it must belong to
 * the first certificate: HAProxy takes the first certificate as the server certificate and refuses the
 * file ("inconsistencies between private key and certificate") when the key is another one's.
 */
export function parseBundle(text: string): BundleResult {
  const split = splitPem(text);
  if (split.errors.length > 0) return fail(split.errors.join('; '));
  if (split.blocks.length === 0) {
    return fail(text.trim() === '' ? 'the file is empty' : 'the file contains no PEM blocks');
  }

  const warnings: string[] = [];
  if (split.strayLines.length > 0) {
    warnings.push(`${split.strayLines.length} line(s) of text outside PEM blocks (first at line ${split.strayLines[0] ?? 0}), ignored`);
  }
  const keyBlocks: PemBlock[] = [];
  const certBlocks: PemBlock[] = [];
  for (const block of split.blocks) {
    if (block.label === CERT_LABEL) {
      certBlocks.push(block);
    } else if (block.label.endsWith('PRIVATE KEY')) {
      if (block.label === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type:.*ENCRYPTED/m.test(block.pem)) {
        return fail('the private key is encrypted; HAProxy cannot load it without a passphrase');
      }
      if (!KEY_LABELS.has(block.label)) return fail(`unsupported private key format "${block.label}"`);
      keyBlocks.push(block);
    } else {
      warnings.push(`a ${block.label} block, ignored`);
    }
  }
  const keyBlock = keyBlocks[0];
  if (keyBlock === undefined) return fail('no private key in the file');
  if (keyBlocks.length > 1) return fail(`${keyBlocks.length} private keys in the file; exactly one is expected`);
  const firstCert = certBlocks[0];
  if (firstCert === undefined) return fail('no certificate in the file');

  const leafDer = pemDer(firstCert);
  const leafFields = leafDer === undefined ? undefined : certificateFields(leafDer);
  // OpenSSL's key decoder costs about 0.5 ms per key, most of what reading a bundle costs; the key's
  // own copy of its public part settles the usual case. Anything else (no public part, another key
  // type, a mismatch, bytes that do not walk) goes to OpenSSL, which gives the verdict and the reason.
  let key: KeyObject | undefined;
  const keyDer = pemDer(keyBlock);
  if (keyDer === undefined || leafFields === undefined || !publicKeyMatches(keyBlock.label, keyDer, leafFields.spki)) {
    try {
      key = createPrivateKey({ key: keyBlock.pem, format: 'pem' });
    } catch (err) {
      return fail(`the private key cannot be read: ${errorText(err)}`);
    }
  }
  const certs: X509Certificate[] = [];
  for (const [i, block] of certBlocks.entries()) {
    try {
      certs.push(i === 0 ? new X509Certificate(block.pem) : chainCertificate(block.pem));
    } catch (err) {
      return fail(`certificate ${i + 1} cannot be read: ${errorText(err)}`);
    }
  }
  const owner = key === undefined ? 0 : certs.findIndex((cert) => keyMatches(cert, key));
  if (owner === -1) return fail('the private key does not belong to any certificate in the file');
  if (owner > 0) {
    return fail(
      `the private key belongs to certificate ${owner + 1}, but HAProxy uses the first certificate in the file as the server certificate`,
    );
  }
  const [leafCert, ...chainCerts] = certs;
  if (leafCert === undefined) return fail('no certificate in the file');
  let leaf: CertInfo;
  try {
    leaf = infoOf(leafCert, leafFields ?? certificateFields(leafCert.raw));
  } catch (err) {
    return fail(`the certificate cannot be read: ${errorText(err)}`);
  }
  const firstChain = chainCerts[0];
  if (firstChain !== undefined && !leafCert.checkIssued(firstChain)) {
    warnings.push('the certificate after the server certificate is not its issuer; the chain may be in the wrong order');
  }
  return {
    ok: true,
    bundle: {
      keyPem: keyBlock.pem,
      leafPem: firstCert.pem,
      chainPems: certBlocks.slice(1).map((b) => b.pem),
      leaf,
      warnings,
    },
  };
}

/** Throws when `pem` does not start with a readable certificate. */
export function certInfo(pem: string): CertInfo {
  const cert = new X509Certificate(pem);
  return infoOf(cert, certificateFields(cert.raw));
}

/**
 * The file content for certs/<name>.pem: the key, then the certificates in the CA's order (leaf first,
 * per RFC 8555 §7.4.2). Throws when either input lacks what it must contain.
 */
export function formatBundle(keyPem: string, certChainPem: string): string {
  const keys = splitPem(keyPem);
  if (keys.errors.length > 0) throw new Error(`the private key PEM is malformed: ${keys.errors.join('; ')}`);
  const keyBlocks = keys.blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  if (keyBlocks.length !== 1) throw new Error(`expected one private key, found ${keyBlocks.length}`);
  const chain = splitPem(certChainPem);
  if (chain.errors.length > 0) throw new Error(`the certificate chain PEM is malformed: ${chain.errors.join('; ')}`);
  const certs = chain.blocks.filter((b) => b.label === CERT_LABEL);
  if (certs.length === 0) throw new Error('the certificate chain contains no certificate');
  return joinPem([...keyBlocks, ...certs]);
}

/**
 * Every bundle from one CA carries the same intermediate, and parsing it again costs as much as parsing
 * the leaf (about 0.15 ms); a handful of entries covers the chains of every CA in use.
 */
const chainCache = new Map<string, X509Certificate>();
const CHAIN_CACHE_SIZE = 16;

function chainCertificate(pem: string): X509Certificate {
  const cached = chainCache.get(pem);
  if (cached !== undefined) return cached;
  const cert = new X509Certificate(pem);
  const oldest = chainCache.keys().next();
  if (chainCache.size >= CHAIN_CACHE_SIZE && oldest.done !== true) chainCache.delete(oldest.value);
  chainCache.set(pem, cert);
  return cert;
}

function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    // Node throws rather than answering false for some key/certificate type pairs.
    return false;
  }
}

/** `fields` is undefined when the DER could not be walked; Node's view of the serial is used then. */
function infoOf(cert: X509Certificate, fields: CertificateFields | undefined): CertInfo {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    throw new Error(`unreadable validity dates "${cert.validFrom}" / "${cert.validTo}"`);
  }
  const dnsNames = dedupe(
    parseSubjectAltName(cert.subjectAltName ?? '')
      .filter((entry) => entry.type === 'DNS')
      .map((entry) => entry.value.toLowerCase()),
  );
  const keyIdentifier = fields?.authorityKeyId?.keyIdentifier;
  return {
    names: dnsNames.length > 0 ? dnsNames : dedupe(commonNames(cert.subject).map((cn) => cn.toLowerCase())),
    notBefore,
    notAfter,
    // Node's `serialNumber` drops a leading 00 byte, which ARI's certID must keep.
    serialHex: fields === undefined ? cert.serialNumber.toLowerCase() : fields.serial.toString('hex'),
    issuer: cert.issuer.split('\n').filter((part) => part !== '').join(', '),
    fingerprint256: cert.fingerprint256,
    authorityKeyIdHex: keyIdentifier === undefined || keyIdentifier.length === 0 ? undefined : keyIdentifier.toString('hex'),
  };
}

/**
 * Node renders the extension as `DNS:a, DNS:b, IP Address:1.2.3.4`, quoting a value as a JSON string
 * when it contains a separator, so a plain split on ", " could cut a crafted value in two.
 */
function parseSubjectAltName(text: string): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon === -1) break;
    const type = text.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      value = decodeJsonString(text.slice(j, k + 1));
      j = k + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma === -1 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    entries.push({ type, value });
    i = text.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return entries;
}

function decodeJsonString(quoted: string): string {
  try {
    const value: unknown = JSON.parse(quoted);
    return typeof value === 'string' ? value : '';
  } catch {
    return '';
  }
}

/** Node renders the subject one attribute per line (`CN=example.com`). */
function commonNames(subject: string): string[] {
  return subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
}

/** The DER inside a PEM block; undefined for a block with RFC 1421 headers, which OpenSSL is left to read. */
function pemDer(block: PemBlock): Buffer | undefined {
  const body = block.pem.slice(block.pem.indexOf('\n') + 1, block.pem.lastIndexOf('-----END'));
  return body.includes(':') ? undefined : Buffer.from(body, 'base64');
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)];
}
