import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * Host names as the ACME server will see them. Checking here, rather than letting the CA answer
 * `malformed` / `rejectedIdentifier`, keeps a typo in one app's label from costing an order, a failure
 * and a rate-limit slot at every sync, and gives the operator a reason they can act on.
 */

export type HostnameResult = { ok: true; name: string } | { ok: false; reason: string };

const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LDH = /^[a-z0-9-]+$/;
/**
 * A last label that is a number, decimal or hex: URL parsers and resolvers read such a name as an
 * IPv4 address (127.0.0.0x1 is 127.0.0.1), so it could aim the preflight at an internal address.
 */
const NUMERIC_LABEL = /^([0-9]+|0x[0-9a-f]*)$/;
const WILDCARD_REASON = 'wildcard names need DNS-01; HTTP-01 cannot validate them';
const NON_ASCII = /[\u0080-\uffff]/;

const fail = (reason: string): HostnameResult => ({ ok: false, reason });

/**
 * Normalises (trim, ASCII lower case, one trailing dot dropped, IDN → punycode) and validates a host
 * name for an HTTP-01 certificate. Never throws. Reasons do not repeat the name: callers add it.
 */
export function normaliseHostname(raw: string): HostnameResult {
  let name = raw.trim();
  if (name === '') return fail('the name is empty');
  if (name.includes('*')) return fail(WILDCARD_REASON);
  if (isIpLiteral(name)) return fail('IP addresses are not supported, use a DNS name');

  if (NON_ASCII.test(name)) {
    const ascii = toAscii(name);
    if (ascii === '') return fail('the internationalised name cannot be converted to an ASCII (punycode) name');
    name = ascii;
  }
  name = name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (name.endsWith('.')) name = name.slice(0, -1);

  if (name === '') return fail('the name is empty');
  // IDNA maps full-width digits, dots and asterisks, so these can appear only after conversion.
  if (name.includes('*')) return fail(WILDCARD_REASON);
  if (isIpLiteral(name)) return fail('IP addresses are not supported, use a DNS name');
  if (name.length > MAX_NAME_LENGTH) return fail(`the name is longer than ${MAX_NAME_LENGTH} characters`);

  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return fail('the name has an empty label (a leading dot or two dots in a row)');
    if (label.length > MAX_LABEL_LENGTH) return fail(`a label is longer than ${MAX_LABEL_LENGTH} characters`);
    if (!LDH.test(label)) {
      return fail('the name contains characters other than letters, digits, hyphens and dots');
    }
    if (label.startsWith('-') || label.endsWith('-')) return fail('a label starts or ends with a hyphen');
  }
  if (labels.some((label) => label.startsWith('xn--'))) {
    const unicode = toUnicode(name);
    // domainToUnicode is documented to answer '' for a name it cannot convert, but from Node 24 on it
    // returns a label that is not valid punycode unchanged; a label that does decode never starts with "xn--".
    if (unicode === '' || unicode.split('.').some((label) => label.startsWith('xn--'))) {
      return fail('a label starting with "xn--" is not valid punycode');
    }
    // WHATWG's IDNA profile turns "-ü" into "xn----eha"; the hyphen rule is about the Unicode label.
    if (unicode.split('.').some((label) => label.startsWith('-') || label.endsWith('-'))) {
      return fail('a label starts or ends with a hyphen');
    }
  }
  if (labels.length < 2) return fail('not a fully qualified domain name');
  const tld = labels[labels.length - 1] ?? '';
  if (NUMERIC_LABEL.test(tld)) return fail('the top-level label is a number (all digits or 0x hex), which reads as an IPv4 address');
  return { ok: true, name };
}

/** An IPv4 address is digits and dots only, an IPv6 one always has a colon; isIP's regexes are slow. */
const MAYBE_IP = /^[0-9.]+$|:/;

function isIpLiteral(name: string): boolean {
  if (!MAYBE_IP.test(name)) return false;
  if (isIP(name) !== 0) return true;
  return name.startsWith('[') && name.endsWith(']') && isIP(name.slice(1, -1)) === 6;
}

/** `domainToASCII`, with "cannot convert" always reported as '' (it already does, but never trust input). */
function toAscii(name: string): string {
  try {
    return domainToASCII(name);
  } catch {
    return '';
  }
}

function toUnicode(name: string): string {
  try {
    return domainToUnicode(name);
  } catch {
    return '';
  }
}
