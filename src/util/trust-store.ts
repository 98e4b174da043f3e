/**
 * What HTTPS requests to Marathon and to marathon-lb's HTTP API trust: Node's own roots (with
 * NODE_EXTRA_CA_CERTS, as any Node client), the operating system's certificate store, and
 * --marathon-ca-file. The Python original verified with OpenSSL's default paths, so an internal CA
 * installed in the image's system store was trusted there; Node's bundled roots alone refuse it.
 *
 * Everything is read once per process and each caller builds its agent once: a trust list handed to
 * every connection would rebuild the whole store per TLS handshake.
 */
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { Agent } from 'undici';
import { splitPem } from '../certs/pem.js';

/** The CERTIFICATE blocks of a PEM text; anything else in it (keys, OpenSSL's TRUSTED CERTIFICATE) is skipped. */
export function pemCertificates(text: string): string[] {
  return splitPem(text).blocks.filter((block) => block.label === 'CERTIFICATE').map((block) => block.pem);
}

/** The certificates a --marathon-ca-file gives; throws naming the option when there are none. */
export function caFileCertificates(path: string, readFile: (path: string) => string): string[] {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new Error(`cannot read --marathon-ca-file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const certificates = pemCertificates(text);
  if (certificates.length === 0) throw new Error(`--marathon-ca-file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certificates;
}

let systemStore: string[] | undefined;
let nodeDefaults: string[] | undefined;
const contexts = new Map<string, tls.SecureContext>();

/**
 * The OS store, read by Node the way OpenSSL reads it (SSL_CERT_FILE and SSL_CERT_DIR, else the
 * distribution's bundle), once per process.
 */
function systemCertificates(): string[] {
  systemStore ??= tls.getCACertificates('system');
  return systemStore;
}

/**
 * One secure context per --marathon-ca-file (or none) per process, so that every agent built for it
 * shares the parsed store. Throws when the file cannot be used.
 */
export function marathonSecureContext(caFile: string | undefined): tls.SecureContext {
  const key = caFile ?? '';
  let context = contexts.get(key);
  if (context === undefined) {
    const file = caFile === undefined ? [] : caFileCertificates(caFile, (path) => readFileSync(path, 'utf8'));
    // Node's defaults are its bundled roots plus NODE_EXTRA_CA_CERTS, which an explicit list would drop.
    nodeDefaults ??= tls.getCACertificates('default');
    context = tls.createSecureContext({ ca: [...new Set([...nodeDefaults, ...systemCertificates(), ...file])] });
    contexts.set(key, context);
  }
  return context;
}

/**
 * An agent for Marathon and marathon-lb's HTTP API trusting what this module describes; `options`
 * are undici's (pool sizes, keep-alive). Throws, naming the file, when --marathon-ca-file cannot be used.
 */
export function createMarathonAgent(caFile: string | undefined, options: Omit<Agent.Options, 'connect'> = {}): Agent {
  return new Agent({ ...options, connect: { secureContext: marathonSecureContext(caFile) } });
}

/** Verification failures that mean "signed by a CA we do not trust", rather than a wrong or expired certificate. */
const UNTRUSTED_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/**
 * For a request error: what to do when the server's certificate is signed by a CA we do not trust
 * (a private CA); empty for any other error. Goes after describeRequestError's text.
 */
export function untrustedHint(err: unknown): string {
  const codes = [err, (err as { cause?: unknown } | undefined)?.cause].map((e) => (e instanceof Error ? (e as { code?: unknown }).code : undefined));
  if (!codes.some((code) => typeof code === 'string' && UNTRUSTED_CODES.has(code))) return '';
  return "; its certificate is not signed by a CA this process trusts (Node's roots, the system store (SSL_CERT_FILE, SSL_CERT_DIR or the distribution's bundle), --marathon-ca-file): give the CA in --marathon-ca-file or install it in the system store";
}
