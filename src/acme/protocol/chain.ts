/**
 * Reading the PEM chains a CA hands out (RFC 8555 §7.4.2): enough to pick one of several alternate
 * chains by the issuer of its topmost certificate, as `--preferred-chain` asks.
 */
import { X509Certificate } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text`, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERTIFICATE) ?? [];
}

/**
 * The issuer CN of the chain's topmost (last) certificate: the root the chain leads to, whether or
 * not the root itself is included. Undefined when it cannot be read or has no CN.
 */
export function topIssuerCommonName(chainPem: string): string | undefined {
  const top = pemCertificates(chainPem).at(-1);
  if (top === undefined) return undefined;
  try {
    // Node prints one RDN a line, e.g. "C=US\nO=Example\nCN=Example Root".
    const line = new X509Certificate(top).issuer.split('\n').find((rdn) => rdn.startsWith('CN='));
    return line?.slice('CN='.length);
  } catch {
    return undefined;
  }
}
