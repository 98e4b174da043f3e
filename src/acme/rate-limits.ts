/**
 * Which client-side rate budget applies to the configured CA (`--rate-limits`): Let's Encrypt's
 * limits belong to Let's Encrypt's directories only. Another CA (pebble, step-ca, a private CA, a
 * commercial one) has limits of its own or none, and holding its orders back by Let's Encrypt's
 * numbers would be wrong. `letsencrypt` and `none` say it outright; a file gives a CA's own numbers.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';
import { LETS_ENCRYPT_LIMITS, LETS_ENCRYPT_STAGING_LIMITS, type BudgetLimits } from './rate-budget.js';
import { errorText } from '../util/error-text.js';

/** A Let's Encrypt budget and how `status` names it. */
interface KnownBudget {
  limits: BudgetLimits;
  name: string;
}

const PRODUCTION: KnownBudget = { limits: LETS_ENCRYPT_LIMITS, name: "Let's Encrypt's" };

const LETS_ENCRYPT_HOSTS: Readonly<Record<string, KnownBudget>> = {
  'acme-v02.api.letsencrypt.org': PRODUCTION,
  'acme-staging-v02.api.letsencrypt.org': { limits: LETS_ENCRYPT_STAGING_LIMITS, name: "Let's Encrypt staging's" },
};

/** What `--rate-limits` says, before the directory is known. */
export type RateLimitsOption = { kind: 'letsencrypt' } | { kind: 'none' } | { kind: 'file'; path: string; limits: BudgetLimits };

/** The budget in force for one CA and why, for the start-up log, `status` and the docs. */
export interface RateLimits {
  /** undefined: no client-side budget; orders go out as fast as the CA answers. */
  limits: BudgetLimits | undefined;
  source: string;
}

export function parseRateLimitsOption(text: string): RateLimitsOption {
  const value = text.trim();
  if (value === 'letsencrypt' || value === 'none') return { kind: value };
  if (value === '') throw new ConfigError('give letsencrypt, none or the path of a JSON file of limits');
  return { kind: 'file', path: value, limits: readLimitsFile(value) };
}

/** The budget for `directoryUrl`: as given, else Let's Encrypt's for its own directories and none for any other CA. */
export function resolveRateLimits(option: RateLimitsOption | undefined, directoryUrl: string): RateLimits {
  if (option?.kind === 'none') return { limits: undefined, source: 'none (--rate-limits none)' };
  if (option?.kind === 'file') return { limits: option.limits, source: `the file ${option.path}` };
  const host = hostOf(directoryUrl);
  const known = host === undefined ? undefined : LETS_ENCRYPT_HOSTS[host];
  if (option?.kind === 'letsencrypt') {
    const budget = known ?? PRODUCTION;
    return { limits: budget.limits, source: `${budget.name} (--rate-limits letsencrypt)` };
  }
  if (known === undefined) return { limits: undefined, source: "none (the default for a CA other than Let's Encrypt)" };
  return { limits: known.limits, source: `${known.name} (the default for its directory)` };
}

/**
 * The file: `{"ordersPerWindow": 300, "orderWindowSeconds": 10800, "certificatesPerDomain": 50,
 * "domainWindowSeconds": 604800}`, each a whole number of at least 1; the daemon plans with them as
 * given (no headroom taken off, unlike Let's Encrypt's built-in numbers).
 */
export function readLimitsFile(path: string): BudgetLimits {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the rate limits file ${path}: ${errorText(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the rate limits file ${path} is not JSON: ${errorText(err)}`);
  }
  return parseLimits(value, path);
}

const FIELDS = ['ordersPerWindow', 'orderWindowSeconds', 'certificatesPerDomain', 'domainWindowSeconds'] as const;

export function parseLimits(value: unknown, where: string): BudgetLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where} must hold a JSON object with ${FIELDS.join(', ')}`);
  }
  const record = value as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new ConfigError(`${where}: unknown field ${unknown.map((k) => `'${k}'`).join(', ')}; the fields are ${FIELDS.join(', ')}`);
  const read = (field: (typeof FIELDS)[number]): number => {
    const n = record[field];
    if (n === undefined) throw new ConfigError(`${where}: '${field}' is missing`);
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${where}: '${field}' must be a whole number of at least 1, not ${JSON.stringify(n)}`);
    return n;
  };
  return {
    ordersPerWindow: read('ordersPerWindow'),
    orderWindowMs: read('orderWindowSeconds') * 1000,
    certsPerDomainPerWindow: read('certificatesPerDomain'),
    domainWindowMs: read('domainWindowSeconds') * 1000,
  };
}

/** The file's form of `limits` (what parseLimits reads back), for state.json. */
export function limitsToJson(limits: BudgetLimits): Record<(typeof FIELDS)[number], number> {
  return {
    ordersPerWindow: limits.ordersPerWindow,
    orderWindowSeconds: limits.orderWindowMs / 1000,
    certificatesPerDomain: limits.certsPerDomainPerWindow,
    domainWindowSeconds: limits.domainWindowMs / 1000,
  };
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}
