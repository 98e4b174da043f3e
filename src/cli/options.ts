import {
  CHALLENGE_MODES,
  KEY_TYPES,
  LETS_ENCRYPT_DIRECTORY,
  parseAcmeTimeout,
  parseBoolean,
  parseDomainList,
  parseEmail,
  parseGroup,
  parseListenAddress,
  parseNonEmpty,
  parsePort,
  parsePortOrZero,
  parsePositiveInteger,
  parseRenewalInterval,
  parseSeconds,
  parseUrlList,
} from '../config.js';
import { LOG_FORMATS, LOG_LEVELS } from '../log.js';
import { MULTIPLE_DOMAINS_MODES } from '../marathon/apps.js';
import { parseWebhookUrlList } from '../notify/target.js';
import { PREFLIGHT_MODES } from '../preflight/decision.js';
import { parseZkOption, parseZkOrderWindow, parseZkSessionTimeout } from '../ha/zk-options.js';
import { parseRateLimitsOption } from '../acme/rate-limits.js';
import { parseRuntimeTargets } from '../lb/runtime/runtime-target.js';
import { parseDirectoryList, parseFallbackAfter } from '../ca/ca-options.js';

/**
 * One row per option: the single definition that the parser, the environment mapping and the help
 * text are all derived from, so they cannot drift apart.
 */
export interface OptionSpec {
  flags: string;
  /** The option's own name: the camel-case form of its long flag. */
  key: string;
  /**
   * The key of the option whose setting this one is another way to give (`--no-preflight` sets
   * `preflight`): `parse` then returns that option's value, or undefined for "sets nothing". The two
   * are resolved by src/cli/precedence.ts.
   */
  sets?: string;
  description: string;
  defaultText?: string;
  /** Turns the text from the command line or the environment into the stored value. */
  parse: (text: string) => unknown;
  boolean?: boolean;
  choices?: readonly string[];
  /**
   * The option may be given several times; the lists `parse` returns for each are joined in order. It
   * has no default (commander would start the list from it). The environment variable gives one list.
   */
  repeatable?: boolean;
  /** The value is a secret: an error names the option only (commander would quote the value). */
  secret?: boolean;
}

export const OPTIONS: readonly OptionSpec[] = [
  {
    flags: '-a, --acme <url[,url...]>',
    key: 'acme',
    description:
      'The ACME directory URLs of the CAs to order from, in the order they are tried, the first being the primary (see README, Several CAs)',
    defaultText: LETS_ENCRYPT_DIRECTORY,
    parse: parseDirectoryList,
  },
  {
    flags: '--ca-config <file>',
    key: 'caConfig',
    description:
      'A JSON file of the CAs in the order they are tried, each with its own directory, external account binding, CA file, profile, preferred chain, key type and rate budget (see README, Several CAs); instead of --acme and the options that belong to one CA',
    parse: parseNonEmpty,
  },
  {
    flags: '--fallback-after <seconds>',
    key: 'fallbackAfter',
    description: 'With several CAs: how long a CA may stay unreachable or answer with 5xx errors before names are ordered from the next one; at least 1',
    defaultText: '3600',
    parse: parseFallbackAfter,
  },
  {
    flags: '-e, --email <email>',
    key: 'email',
    description: 'An e-mail address to register with the ACME service (optional)',
    parse: parseEmail,
  },
  {
    flags: '-m, --marathon <MARATHON[,MARATHON,...]>',
    key: 'marathon',
    description: 'The addresses of the Marathon HTTP API, tried in order (user:password@ in a URL becomes Basic auth)',
    defaultText: 'http://marathon.mesos:8080',
    parse: parseUrlList,
  },
  {
    flags: '-l, --lb <LB[,LB,...]>',
    key: 'lb',
    description: 'The addresses of the marathon-lb HTTP API; every one is signalled',
    defaultText: 'http://marathon-lb.marathon.mesos:9090',
    parse: parseUrlList,
  },
  {
    flags: '--lb-runtime <URL[,URL...]>',
    key: 'lbRuntime',
    description:
      "One per --lb, in the same order: the admin-level stats socket of that marathon-lb's HAProxy (2.2 or later), as tcp://host:port or unix:///path, or none; certificates are then loaded into it without a reload, and the reload signal is sent only when that fails (see README, Modern marathon-lb) (default: none)",
    parse: parseRuntimeTargets,
  },
  {
    flags: '-g, --group <group>',
    key: 'group',
    description: 'The marathon-lb group (HAPROXY_GROUP) to issue certificates for',
    defaultText: 'external',
    parse: parseGroup,
  },
  {
    flags: '--allow-multiple-certs',
    key: 'allowMultipleCerts',
    sets: 'multipleDomains',
    description:
      'The same as --multiple-domains separate (kept from the original)',
    // MARATHON_ACME_ALLOW_MULTIPLE_CERTS=false sets nothing: the mode comes from --multiple-domains.
    parse: (text) => (parseBoolean(text) ? 'separate' : undefined),
    boolean: true,
  },
  {
    flags: '--multiple-domains <mode>',
    key: 'multipleDomains',
    description:
      'What to do with several domains in one MARATHON_ACME_{n}_DOMAIN label: first (only the first), separate (one certificate each), san (one certificate covering all)',
    defaultText: 'first',
    parse: (text) => text,
    choices: MULTIPLE_DOMAINS_MODES,
  },
  {
    flags: '--allowed-domains <domain[,domain...]>',
    key: 'allowedDomains',
    description: 'Only issue for these domains and their subdomains; names outside are refused with a warning naming the app (default: any)',
    parse: parseDomainList,
  },
  {
    flags: '--max-names-per-app <n>',
    key: 'maxNamesPerApp',
    description: 'The most names one app may ask certificates for, all ports together; more are ignored with a warning',
    defaultText: '100',
    parse: parsePositiveInteger,
  },
  {
    flags: '--listen <[ip]:port>',
    key: 'listen',
    description:
      'The address to serve on: HTTP-01 challenges and the ping under /.well-known/acme-challenge/, /health (liveness), /ready (readiness), /metrics, /status and /status.json',
    defaultText: ':8000',
    parse: parseListenAddress,
  },
  {
    flags: '--marathon-timeout <seconds>',
    key: 'marathonTimeout',
    description: 'Seconds to wait for response headers from Marathon and for each further piece of an answer (the whole app list: 6 times this); 0 disables',
    defaultText: '10',
    parse: parseSeconds,
  },
  {
    flags: '--sse-timeout <seconds>',
    key: 'sseTimeout',
    description: 'Seconds without any data on the Marathon event stream before reconnecting; 0 disables',
    defaultText: '60',
    parse: parseSeconds,
  },
  {
    flags: '--marathon-ca-file <path>',
    key: 'marathonCaFile',
    description:
      "A PEM file of CA certificates to trust for https:// --marathon and --lb URLs, besides Node's roots and the operating system's certificate store (private CAs)",
    parse: parseNonEmpty,
  },
  {
    flags: '--sync-interval <seconds>',
    key: 'syncInterval',
    description: 'Seconds between full syncs that catch changes Marathon sends no event for; 0 disables',
    defaultText: '300',
    parse: parseSeconds,
  },
  {
    flags: '--renewal-interval <seconds>',
    key: 'renewalInterval',
    description: 'Seconds between renewal checks (each renews what is due by the CA\'s ARI window, or with a third of its lifetime left)',
    defaultText: '3600',
    parse: parseRenewalInterval,
  },
  {
    flags: '--max-concurrent-orders <n>',
    key: 'maxConcurrentOrders',
    description: 'How many certificates may be ordered from the CA at the same time',
    defaultText: '4',
    parse: parsePositiveInteger,
  },
  {
    flags: '--preflight <mode>',
    key: 'preflight',
    description:
      'Before ordering, check that each name reaches this daemon through each --lb host and through DNS: advisory holds back a failing name, but sends one real order a day from its third failed check on; strict holds it back until the check passes; off skips the check',
    defaultText: 'advisory',
    parse: (text) => text,
    choices: PREFLIGHT_MODES,
  },
  {
    flags: '--no-preflight',
    key: 'noPreflight',
    sets: 'preflight',
    description: 'The same as --preflight off',
    // The variable names the negative flag: MARATHON_ACME_NO_PREFLIGHT=true turns the check off, and
    // false leaves the mode to --preflight (undefined: nothing to set).
    parse: (text) => (parseBoolean(text) ? 'off' : undefined),
    boolean: true,
  },
  {
    flags: '--challenges <where>',
    key: 'challenges',
    description:
      'Who answers the CA\'s HTTP-01 challenges: daemon (marathon-lb routes /.well-known/acme-challenge/ to marathon-acme) or stateless (every marathon-lb answers them itself with the line `marathon-acme lb-config` prints, HAProxy 2.2 or later; every CA then uses client.key, and the preflight checks the LBs\' answers) (see README, Modern marathon-lb)',
    defaultText: 'daemon',
    parse: (text) => text,
    choices: CHALLENGE_MODES,
  },
  {
    flags: '--preflight-port <port>',
    key: 'preflightPort',
    description: 'The port the preflight check fetches http://<name>:<port>/.well-known/acme-challenge/ on, as the CA will, and dials on each --lb host (the load balancer\'s HTTP port)',
    defaultText: '80',
    parse: parsePort,
  },
  {
    flags: '--delivery-check-port <port>',
    key: 'deliveryCheckPort',
    description:
      "The TLS port of each marathon-lb (on its --lb URL's host) that the delivery check connects to with each managed name as SNI, to compare the certificate served with the one stored; 0 turns the check off",
    defaultText: '443',
    parse: parsePortOrZero,
  },
  {
    flags: '--delivery-check-interval <seconds>',
    key: 'deliveryCheckInterval',
    description: 'Seconds between delivery checks of every managed name on every marathon-lb (each reload signal is checked on its own as well); 0 checks only after signals',
    defaultText: '3600',
    parse: parseSeconds,
  },
  {
    flags: '--retire-after <seconds>',
    key: 'retireAfter',
    description:
      'Seconds a certificate may go unwanted by any app before it is moved to retired-certs/ and no longer renewed; 0 disables',
    defaultText: '604800',
    parse: parseSeconds,
  },
  {
    flags: '--acme-ca-file <path>',
    key: 'acmeCaFile',
    description: 'A PEM file of extra CA certificates to trust for the ACME directories (private CAs); every CA\'s, unless --ca-config gives one its own',
    parse: (text) => text,
  },
  {
    flags: '--acme-timeout <seconds>',
    key: 'acmeTimeout',
    description: 'Seconds each request to the ACME CA (renewal information included) may take before it counts as failed; at least 1',
    defaultText: '30',
    parse: parseAcmeTimeout,
  },
  {
    flags: '--key-type <type>',
    key: 'keyType',
    description: 'The kind of private key each certificate gets, from every CA unless --ca-config gives one its own',
    defaultText: 'rsa2048',
    parse: (text) => text,
    choices: KEY_TYPES,
  },
  {
    flags: '--eab-kid <kid>',
    key: 'eabKid',
    description: 'Key identifier for external account binding, for CAs that require it (with --eab-hmac-key); the primary CA\'s only',
    parse: parseNonEmpty,
  },
  {
    flags: '--eab-hmac-key <key>',
    key: 'eabHmacKey',
    description: 'Base64url MAC key for external account binding (with --eab-kid); the primary CA\'s only; never logged',
    parse: parseNonEmpty,
  },
  {
    flags: '--acme-profile <name>',
    key: 'acmeProfile',
    description: "An ACME profile to request from the primary CA (e.g. Let's Encrypt's tlsserver or shortlived); the CA must advertise it",
    parse: parseNonEmpty,
  },
  {
    flags: '--preferred-chain <issuer CN>',
    key: 'preferredChain',
    description:
      "When the primary CA offers alternate certificate chains, store the one whose topmost certificate was issued by this Common Name (as certbot's option of the same name); the CA's default chain when none matches",
    parse: parseNonEmpty,
  },
  {
    flags: '--notify-url <url[,url...]>',
    key: 'notifyUrl',
    description:
      'A webhook to POST a JSON notification to when certificates fail, expire or are not served, and when they recover (Slack/Mattermost incoming webhooks accept it as is); repeatable; a secret, only its scheme://host is ever logged (default: none)',
    parse: parseWebhookUrlList,
    repeatable: true,
    secret: true,
  },
  {
    flags: '--notify-after-failures <n>',
    key: 'notifyAfterFailures',
    description: 'How many failures in a row of an issue or renewal make a notification',
    defaultText: '3',
    parse: parsePositiveInteger,
  },
  {
    flags: '--rate-limits <letsencrypt|none|file>',
    key: 'rateLimits',
    description:
      "The client-side rate budget orders from the primary CA must fit: letsencrypt (90 % of Let's Encrypt's new-orders and certificates-per-domain limits), none, or a JSON file of a CA's own limits (see README, Rate budget); default, and always for the other CAs: Let's Encrypt's for its production and staging directories, none for any other CA",
    parse: parseRateLimitsOption,
  },
  {
    flags: '--zk <url>',
    key: 'zk',
    description:
      'zk://[user:password@]host:port[,host:port...]/path: run as one of several instances that share the storage directory, elect a leader in ZooKeeper under this path and answer each other\'s challenges; the credentials are ZooKeeper digest credentials, never logged (default: none, the storage directory\'s lock decides which instance leads)',
    parse: parseZkOption,
    secret: true,
  },
  {
    flags: '--zk-session-timeout <seconds>',
    key: 'zkSessionTimeout',
    description:
      'With --zk: the ZooKeeper session timeout to ask for; a leader cut off from ZooKeeper stops ordering after two thirds of it, and another instance leads about this long after a leader dies; at least 2',
    defaultText: '6',
    parse: parseZkSessionTimeout,
  },
  {
    flags: '--zk-order-window <seconds>',
    key: 'zkOrderWindow',
    description:
      'With --zk: how long a new leader leaves alone a name that a previous leader recorded an order for (that order may still complete), after which it orders the name only if the storage directory still lacks it; longer than any order takes',
    defaultText: '300',
    parse: parseZkOrderWindow,
  },
  {
    flags: '--log-level <level>',
    key: 'logLevel',
    description: 'The minimum severity of log messages',
    defaultText: 'info',
    parse: (text) => text,
    choices: LOG_LEVELS,
  },
  {
    flags: '--log-format <format>',
    key: 'logFormat',
    description:
      'How log lines look: json (one JSON object a line, for log shippers) or pretty (time, level, message, key=value, for people); default: pretty when the log goes to a terminal, json otherwise',
    parse: (text) => text,
    choices: LOG_FORMATS,
  },
];

/** `--sse-timeout` becomes `MARATHON_ACME_SSE_TIMEOUT`. */
export function envName(spec: OptionSpec): string {
  return `MARATHON_ACME_${longFlag(spec).slice(2).replace(/-/g, '_').toUpperCase()}`;
}

/** `--sse-timeout` of `--sse-timeout <seconds>`. */
export function longFlag(spec: OptionSpec): string {
  return /--[a-z-]+/.exec(spec.flags)?.[0] ?? `--${spec.key}`;
}

export function findOption(key: string): OptionSpec {
  const spec = OPTIONS.find((o) => o.key === key);
  if (spec === undefined) throw new Error(`no option ${key}`);
  return spec;
}

/** Not an option, so not in OPTIONS: the daemon, `plan` and `status` take it as their argument instead. */
export const STORAGE_DIR_ENV = 'MARATHON_ACME_STORAGE_DIR';
