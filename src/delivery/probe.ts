/**
 * What a load balancer presents for a name: one TLS handshake with SNI set to the name, read the leaf,
 * hang up. The delivery check compares fingerprints with the stored leaf, so the chain is not
 * verified here (an expired or self-signed default.pem must be reported as what it is, not as an error).
 */
import { isIP } from 'node:net';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { certInfo } from '../certs/bundle.js';

export interface ServedLeaf {
  /** SHA-256 of the DER, lower-case hex without colons. */
  fingerprint256: string;
  /** The serial's DER content bytes in lower-case hex (leading 00 kept), as the store reports it. */
  serialHex: string;
  /** DNS subjectAltNames in lower case (the CN when there is none). */
  names: string[];
  issuer: string;
  /** Epoch ms. */
  notBefore: number;
  notAfter: number;
}

export type ProbeResult = { ok: true; leaf: ServedLeaf } | { ok: false; error: string };

export interface ProbeOptions {
  host: string;
  port: number;
  servername: string;
  /** Bounds the TCP connect and the handshake together. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Shared by every probe: without one, each connection builds its own context, root store included,
 * which costs more than the handshake itself. Nothing is verified, so the defaults are all it needs.
 */
let sharedContext: SecureContext | undefined;

/** Never throws and never rejects: every network or certificate problem is an `ok: false` result. */
export async function probeServedLeaf(options: ProbeOptions): Promise<ProbeResult> {
  const { host, port, servername, timeoutMs, signal } = options;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (signal?.aborted === true) return { ok: false, error: `check of ${where} cancelled` };
  return new Promise<ProbeResult>((resolve) => {
    let socket: TLSSocket | undefined;
    let connected = false;
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.destroy();
      resolve(result);
    };
    const onAbort = (): void => {
      finish({ ok: false, error: `check of ${where} cancelled` });
    };
    const timer = setTimeout(() => {
      finish({ ok: false, error: `no ${connected ? 'TLS handshake' : 'connection'} with ${where} within ${timeoutMs} ms` });
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      socket = connect({
        host,
        port,
        // SNI carries host names only (RFC 6066); Node warns when given an address.
        ...(isIP(servername) === 0 ? { servername } : {}),
        rejectUnauthorized: false,
        secureContext: (sharedContext ??= createSecureContext()),
      });
    } catch (err) {
      finish({ ok: false, error: `cannot connect to ${where}: ${errorText(err)}` });
      return;
    }
    const tls = socket;
    tls.once('connect', () => {
      connected = true;
    });
    tls.once('secureConnect', () => {
      finish(readLeaf(tls.getPeerX509Certificate(), where));
    });
    tls.once('error', (err: Error) => {
      finish({ ok: false, error: `${connected ? 'TLS handshake with' : 'connection to'} ${where} failed: ${errorText(err)}` });
    });
    tls.once('close', () => {
      finish({ ok: false, error: `${where} closed the connection before the handshake completed` });
    });
  });
}

function readLeaf(cert: X509Certificate | undefined, where: string): ProbeResult {
  if (cert === undefined) return { ok: false, error: `${where} presented no certificate` };
  return { ok: true, leaf: servedLeaf(cert) };
}

type LeafDetails = Omit<ServedLeaf, 'fingerprint256'>;

/**
 * The fingerprint at once, the rest when first read: a check of thousands of names compares only
 * fingerprints when the LB serves what is stored, and reading the other fields means parsing the
 * certificate again (a third of the cost of the whole handshake).
 */
function servedLeaf(cert: X509Certificate): ServedLeaf {
  let details: LeafDetails | undefined;
  const read = (): LeafDetails => (details ??= leafDetails(cert));
  return {
    fingerprint256: normaliseFingerprint(cert.fingerprint256),
    get serialHex() {
      return read().serialHex;
    },
    get names() {
      return read().names;
    },
    get issuer() {
      return read().issuer;
    },
    get notBefore() {
      return read().notBefore;
    },
    get notAfter() {
      return read().notAfter;
    },
  };
}

/** Never throws: a certificate the store's parser refuses still has Node's view of it. */
function leafDetails(cert: X509Certificate): LeafDetails {
  try {
    const info = certInfo(cert.toString());
    return { serialHex: info.serialHex, names: info.names, issuer: info.issuer, notBefore: info.notBefore.getTime(), notAfter: info.notAfter.getTime() };
  } catch {
    return {
      serialHex: cert.serialNumber.toLowerCase(),
      names: [],
      issuer: cert.issuer.split('\n').filter((part) => part !== '').join(', '),
      notBefore: Date.parse(cert.validFrom),
      notAfter: Date.parse(cert.validTo),
    };
  }
}

/** `AB:CD:…` (Node's form) or any mix of case and colons → `abcd…`. */
export function normaliseFingerprint(text: string): string {
  return text.replaceAll(':', '').toLowerCase();
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
