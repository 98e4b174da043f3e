import { isIP } from 'node:net';
import { normaliseHostname } from './domains/hostname.js';
import type { LogLevel } from './log.js';
import type { MultipleDomainsMode } from './marathon/apps.js';
import type { PreflightMode } from './preflight/decision.js';
import type { ZkTarget } from './zk/zk-url.js';
import type { RateLimits } from './acme/rate-limits.js';
import type { RuntimeTarget } from './lb/runtime/runtime-target.js';

/** Everything the daemon needs to know, already validated. Durations are milliseconds; 0 disables. */
export interface Config {
  storageDir: string;
  acmeDirectoryUrl: string;
  email: string | undefined;
  marathonUrls: string[];
  lbUrls: string[];
  /** One per --lb when given (--lb-runtime): its HAProxy's runtime API, or undefined for none; empty: none at all. */
  lbRuntime: Array<RuntimeTarget | undefined>;
  group: string;
  multipleDomains: MultipleDomainsMode;
  listen: ListenAddress;
  marathonTimeoutMs: number;
  sseTimeoutMs: number;
  logLevel: LogLevel;
  syncIntervalMs: number;
  renewalIntervalMs: number;
  maxConcurrentOrders: number;
  /** Domain suffixes names must fall under; undefined allows any. */
  allowedDomains: string[] | undefined;
  maxNamesPerApp: number;
  /** Whether a name is checked to reach us before it is ordered, and whether a failing check may block it for good. */
  preflight: PreflightMode;
  /** Who answers HTTP-01: this daemon (through marathon-lb's routing) or each load balancer itself. */
  challenges: ChallengeMode;
  /** The port the preflight check fetches (the load balancer's HTTP port, like the CA). */
  preflightPort: number;
  /** How long a certificate may go unwanted before it is retired; 0 disables retirement. */
  retireAfterMs: number;
  acmeCaFile: string | undefined;
  /** Extra CAs for https:// Marathon and marathon-lb URLs, beside Node's roots and the system store. */
  marathonCaFile: string | undefined;
  /** How long each request to the CA (ACME and ARI) may take; never 0, a CA that never answers must not hold an order. */
  acmeTimeoutMs: number;
  keyType: KeyType;
  /** External account binding, for CAs that require it (both parts or neither). */
  eab: { kid: string; hmacKey: string } | undefined;
  /** An ACME profile to request; must be advertised by the CA's directory. */
  acmeProfile: string | undefined;
  /** The issuer CN of the topmost certificate of the chain to store, when the CA offers several chains. */
  preferredChain: string | undefined;
  /** The marathon-lb TLS port the delivery check connects to; 0 turns the check off. */
  deliveryCheckPort: number;
  /** Between delivery checks of every name on every LB; 0: only the checks after each signal. */
  deliveryCheckIntervalMs: number;
  /** Webhooks notified of failures, expiry, delivery failures and recoveries; each is a secret. Empty: none. */
  notifyUrls: string[];
  /** Failures in a row of an issue or renewal before it is notified. */
  notifyAfterFailures: number;
  /** The ZooKeeper ensemble and path of the instances' group (--zk); undefined: the storage lock decides who leads. */
  zk: ZkTarget | undefined;
  /** The session timeout asked of ZooKeeper. */
  zkSessionTimeoutMs: number;
  /** How long a new leader leaves alone a name another instance recorded an order for. */
  zkOrderWindowMs: number;
  /** The client-side rate budget for the CA, and where it comes from (--rate-limits, or the CA's default). */
  rateLimits: RateLimits;
  /**
   * The CAs orders may go to, in the order they are tried; never empty. The first is the primary, and
   * the single-CA settings above (acmeDirectoryUrl, acmeCaFile, eab, acmeProfile, preferredChain,
   * rateLimits) are the primary's.
   */
  cas: CaSettings[];
  /** How long a CA may stay unreachable or failing with 5xx before names are ordered from the next CA. */
  fallbackAfterMs: number;
}

/** One ACME CA and what belongs to it alone: account binding, trust, profile, chain and rate budget. */
export interface CaSettings {
  directoryUrl: string;
  /** Extra trusted roots for this CA's directory. */
  caFile: string | undefined;
  keyType: KeyType;
  eab: { kid: string; hmacKey: string } | undefined;
  profile: string | undefined;
  preferredChain: string | undefined;
  rateLimits: RateLimits;
}

export const KEY_TYPES = ['rsa2048', 'rsa4096', 'ecdsa-p256', 'ecdsa-p384'] as const;

export const CHALLENGE_MODES = ['daemon', 'stateless'] as const;
export type ChallengeMode = (typeof CHALLENGE_MODES)[number];
export type KeyType = (typeof KEY_TYPES)[number];

export interface ListenAddress {
  /** The address to bind; the original's empty host meant every IPv4 interface. */
  host: string;
  port: number;
}

/** Let's Encrypt's production ACME v2 directory (the original defaulted to the retired v1 one). */
export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/** A bad option value. The message names the value; the CLI adds which flag or variable it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * `[ip]:port` as the original accepted it: split on the last colon, an empty host means all IPv4
 * interfaces, IPv6 addresses go in brackets, host names are refused (the original refused them too,
 * and binding by name hides which interface is really used).
 */
export function parseListenAddress(value: string): ListenAddress {
  const colon = value.lastIndexOf(':');
  if (colon < 0) {
    throw new ConfigError(`'${value}' does not have the correct form for a listen address: [ipaddress]:port`);
  }
  let host = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') {
    host = '0.0.0.0';
  } else if (isIP(host) === 0) {
    throw new ConfigError(`'${host}' does not appear to be an IPv4 or IPv6 address`);
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new ConfigError(`'${portText}' does not appear to be a valid port number`);
  }
  return { host, port };
}

/** A comma-separated list of http(s) base URLs; blanks around items are dropped, empty items refused. */
export function parseUrlList(value: string): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new ConfigError(`'${value}' has an empty item; expected URL[,URL,...]`);
  }
  return items.map(parseHttpUrl);
}

export function parseHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`'${redactUrlText(value)}' is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`'${redactUrlText(value)}' must be an http:// or https:// URL`);
  }
  return value;
}

/** Seconds as a non-negative decimal number, returned as milliseconds. */
export function parseSeconds(value: string): number {
  const seconds = /^\s*[0-9]+(\.[0-9]+)?\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new ConfigError(`'${value}' is not a non-negative number of seconds`);
  }
  return Math.round(seconds * 1000);
}

export function parsePort(value: string): number {
  const port = /^\s*[0-9]{1,5}\s*$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ConfigError(`'${value}' is not a port number (1-65535)`);
  return port;
}

export function parsePositiveInteger(value: string): number {
  const n = /^\s*[0-9]+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(`'${value}' is not a whole number of at least 1`);
  }
  return n;
}

/**
 * Environment variables carry booleans as text. The usual spellings of both are accepted (compose files
 * and Marathon app definitions use all of them), and the error lists them; anything else is an error,
 * not "true". An empty variable never gets here: it counts as unset.
 */
export function parseBoolean(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`'${value}' is not a boolean: use true or false (1/0, yes/no and on/off work too)`);
}

/**
 * Something@something without blanks: enough to catch a value given to the wrong option, which the
 * original passed on to the CA to be refused at registration.
 */
export function parseEmail(text: string): string {
  if (!/^[^\s@]+@[^\s@]+$/.test(text)) throw new ConfigError(`'${text}' is not an e-mail address`);
  return text;
}

/** A comma-separated list of domains, normalised as the labels' names are. */
export function parseDomainList(text: string): string[] {
  return text.split(',').map((raw) => {
    const item = raw.trim();
    const result = normaliseHostname(item);
    if (!result.ok) throw new ConfigError(`'${item}' is not a domain: ${result.reason}`);
    return result.name;
  });
}

export function parseNonEmpty(text: string): string {
  if (text.trim() === '') throw new ConfigError('the value must not be empty');
  return text;
}

export function parseGroup(text: string): string {
  if (text.trim() === '') throw new ConfigError('the group must not be empty');
  return text;
}

export function parseRenewalInterval(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 1000) throw new ConfigError(`'${text}' is too short; renewal checks need at least 1 second between them`);
  return ms;
}

export function parsePortOrZero(text: string): number {
  return /^\s*0+\s*$/.test(text) ? 0 : parsePort(text);
}

/**
 * Unlike the Marathon timeouts, 0 cannot mean "disabled": a CA that accepts a request and never
 * answers would hold that order, and its --max-concurrent-orders slot, forever.
 */
export function parseAcmeTimeout(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 1000) throw new ConfigError(`'${text}' is too short; requests to the CA need a timeout of at least 1 second`);
  return ms;
}

/**
 * Hides credentials in a URL-like string so that it can be printed or logged: the user:password, and
 * the values of the query (a proxy's token may be given as one), whose names stay.
 */
export function redactUrlText(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@').replace(/([?&][^=&#]*=)[^&#]*/g, '$1***');
}
