import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  ConfigError,
  KEY_TYPES,
  LETS_ENCRYPT_DIRECTORY,
  parseBoolean,
  parseHttpUrl,
  parseListenAddress,
  parsePort,
  parsePositiveInteger,
  parseSeconds,
  parseUrlList,
  redactUrlText,
  type Config,
  type KeyType,
} from './config.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './log.js';
import { normaliseHostname } from './domains/hostname.js';
import { MULTIPLE_DOMAINS_MODES, type MultipleDomainsMode } from './marathon/apps.js';
import type { CheckRequest } from './check/command.js';
import { parseLbHttp } from './check/routing.js';
import { parseWebhookUrlList, webhookDisplay } from './notify/target.js';
import { PREFLIGHT_MODES, type PreflightMode } from './preflight/decision.js';

export const PROGRAM = 'marathon-acme';

/**
 * One row per option: the single definition that the parser, the environment mapping and the help
 * text are all derived from, so they cannot drift apart.
 */
interface OptionSpec {
  flags: string;
  /** Config-independent attribute name commander derives from the long flag. */
  key: string;
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
    flags: '-a, --acme <url>',
    key: 'acme',
    description: 'The address of the ACME directory resource',
    defaultText: LETS_ENCRYPT_DIRECTORY,
    parse: parseHttpUrl,
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
    flags: '-g, --group <group>',
    key: 'group',
    description: 'The marathon-lb group (HAPROXY_GROUP) to issue certificates for',
    defaultText: 'external',
    parse: parseGroup,
  },
  {
    flags: '--allow-multiple-certs',
    key: 'allowMultipleCerts',
    description:
      'The same as --multiple-domains separate (kept from the original)',
    parse: parseBoolean,
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
    description: 'The address to serve HTTP-01 challenges, ping and /health on',
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
    key: 'preflight',
    description: 'The same as --preflight off',
    // The variable names the negative flag: MARATHON_ACME_NO_PREFLIGHT=true turns the check off, and
    // false leaves the mode to --preflight (undefined: nothing to set).
    parse: (text) => (parseBoolean(text) ? 'off' : undefined),
    boolean: true,
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
    description: 'A PEM file of extra CA certificates to trust for the ACME directory (private CAs)',
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
    description: 'The kind of private key each certificate gets',
    defaultText: 'rsa2048',
    parse: (text) => text,
    choices: KEY_TYPES,
  },
  {
    flags: '--eab-kid <kid>',
    key: 'eabKid',
    description: 'Key identifier for external account binding, for CAs that require it (with --eab-hmac-key)',
    parse: parseNonEmpty,
  },
  {
    flags: '--eab-hmac-key <key>',
    key: 'eabHmacKey',
    description: 'Base64url MAC key for external account binding (with --eab-kid); never logged',
    parse: parseNonEmpty,
  },
  {
    flags: '--acme-profile <name>',
    key: 'acmeProfile',
    description: "An ACME profile to request (e.g. Let's Encrypt's tlsserver or shortlived); the CA must advertise it",
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
  const long = /--([a-z-]+)/.exec(spec.flags)?.[1] ?? spec.key;
  return `MARATHON_ACME_${long.replace(/-/g, '_').toUpperCase()}`;
}

export const STORAGE_DIR_ENV = 'MARATHON_ACME_STORAGE_DIR';

function parseEmail(text: string): string {
  if (!/^[^\s@]+@[^\s@]+$/.test(text)) throw new ConfigError(`'${text}' is not an e-mail address`);
  return text;
}

function parseDomainList(text: string): string[] {
  const items = text.split(',').map((item) => item.trim());
  return items.map((item) => {
    const result = normaliseHostname(item);
    if (!result.ok) throw new ConfigError(`'${item}' is not a domain: ${result.reason}`);
    return result.name;
  });
}

function parseNonEmpty(text: string): string {
  if (text.trim() === '') throw new ConfigError('the value must not be empty');
  return text;
}

function parseGroup(text: string): string {
  if (text.trim() === '') throw new ConfigError('the group must not be empty');
  return text;
}

function parseRenewalInterval(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 1000) throw new ConfigError(`'${text}' is too short; renewal checks need at least 1 second between them`);
  return ms;
}

function parsePortOrZero(text: string): number {
  return /^\s*0+\s*$/.test(text) ? 0 : parsePort(text);
}

/**
 * Unlike the Marathon timeouts, 0 cannot mean "disabled": a CA that accepts a request and never
 * answers would hold that order, and its --max-concurrent-orders slot, forever.
 */
function parseAcmeTimeout(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 1000) throw new ConfigError(`'${text}' is too short; requests to the CA need a timeout of at least 1 second`);
  return ms;
}

/** Read from package.json, which sits one level above both src/ and dist/. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

function buildProgram(kind: 'run' | 'plan'): Command {
  const program = newProgram(
    kind === 'plan' ? `${PROGRAM} plan` : PROGRAM,
    kind === 'plan'
      ? 'Print what a sync and a renewal check would do now (issue, renew, retire, keep, wait, skip), with reasons; reads Marathon and the storage directory, changes nothing and contacts no CA'
      : 'Automatically manage ACME certificates for Marathon apps served by marathon-lb (see also: marathon-acme plan --help, marathon-acme status --help, marathon-acme check --help)',
  )
    .argument('[storage-dir]', `Path to the directory for storing certificates (env ${STORAGE_DIR_ENV})`)
    .version(version(), '--version', "Show the program's version number and exit")
    .allowExcessArguments(false);
  for (const spec of OPTIONS) {
    const env = envName(spec);
    const option = new Option(spec.flags, `${spec.description} (env ${env})`);
    if (spec.defaultText !== undefined) option.default(spec.parse(spec.defaultText), spec.defaultText);
    if (spec.choices !== undefined) {
      option.choices(spec.choices);
    } else if (spec.boolean !== true) {
      option.argParser((text: string, previous: unknown) => {
        try {
          const value = spec.parse(text);
          return spec.repeatable === true && Array.isArray(previous) && Array.isArray(value) ? [...(previous as unknown[]), ...(value as unknown[])] : value;
        } catch (err) {
          if (err instanceof ConfigError && spec.secret === true) {
            // Not an InvalidArgumentError, which commander prefixes with the value it was given.
            throw new CommanderError(2, 'marathon-acme.invalidSecretArgument', `option '${spec.flags}': ${err.message}`);
          }
          if (err instanceof ConfigError) throw new InvalidArgumentError(err.message);
          throw err;
        }
      });
    }
    program.addOption(option);
  }
  return program;
}

export type CliResult =
  /** `logFormat` undefined: none was asked for, so the caller picks by whether the log goes to a terminal. */
  | { kind: 'run' | 'plan'; config: Config; logFormat: LogFormat | undefined }
  | { kind: 'exit'; code: number; stderr: string };

export type CommandLine =
  | CliResult
  | { kind: 'status'; storageDir: string; json: boolean }
  | { kind: 'check'; request: CheckRequest };

function usageError(message: string, command = PROGRAM): Exit {
  return { kind: 'exit', code: 2, stderr: `${command}: ${message}\nTry '${command} --help' for the list of options.\n` };
}

type Exit = { kind: 'exit'; code: number; stderr: string };

/**
 * A commander program that throws instead of exiting and prints nothing on errors: parseArgs turns
 * both into an Exit, so that every command reports a usage error the same way (one line and a hint).
 */
function newProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .helpOption('-h, --help', 'Show this help message and exit')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => process.stdout.write(s) });
}

/** Runs commander on `argv`; help and version end in exit 0, a usage error in exit 2 with a hint. */
function parseArgs(program: Command, argv: readonly string[], command: string): Exit | undefined {
  try {
    program.parse([...argv], { from: 'user' });
    return undefined;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.exitCode === 0) return { kind: 'exit', code: 0, stderr: '' };
    return usageError(err.message.replace(/^error: /, ''), command);
  }
}

/** Every subcommand: `status` and `check` here, the daemon and `plan` through parseCli. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  if (argv[0] === 'status') return parseStatus(argv.slice(1), env);
  if (argv[0] === 'check') return parseCheck(argv.slice(1), env);
  return parseCli(argv, env);
}

/** The daemon's own definition of an option, so `check` parses and documents it the same way. */
function sharedOption(key: string): OptionSpec {
  const spec = OPTIONS.find((o) => o.key === key);
  if (spec === undefined) throw new Error(`no option ${key}`);
  return spec;
}

/**
 * `check` takes names, or `--all` with the daemon's Marathon and group options (same flags and
 * variables), so it can run with the daemon's environment; with Marathon given (or `--all`) it also
 * checks marathon-lb's labels. `--served` takes the daemon's `--lb` and `--delivery-check-port` and
 * the storage directory instead.
 */
function parseCheck(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  const command = `${PROGRAM} check`;
  const program = newProgram(
    command,
    "Fetch http://<name>/.well-known/acme-challenge/ping the way the CA fetches a challenge (DNS, redirects, ports) and report per name what DNS answered, where redirects led, whether marathon-acme answered, and what to fix; with Marathon given (--marathon, its variable, or --all) also find marathon-lb labels whose rules take the challenge path before marathon-acme's. With --served, instead compare the certificate each marathon-lb serves for each name with the stored one. Exit 1 if any check fails",
  )
    .argument('[name...]', 'Domain names to check (with --served: default every certificate in certs/)')
    .option('--all', "Also check every name in the MARATHON_ACME_{n}_DOMAIN labels of Marathon's apps in --group")
    .option('--lb-http <url>', 'Send the checks to this marathon-lb (http://host[:port]) instead of where DNS points')
    .option('--acme-app <id>', "marathon-acme's app id, for the label check (default: the app whose HAPROXY_{n}_PATH is /.well-known/acme-challenge/)")
    .option('--served', "Connect to each --lb host's TLS port with SNI set to each name and compare the certificate served with the stored one: served, stale, other or unreachable")
    .option('--storage-dir <dir>', `The storage directory, with --served (env ${STORAGE_DIR_ENV})`)
    .option('--timeout <seconds>', 'Seconds each name may take, DNS and redirects included (with --served: each TLS handshake)', '10')
    .option('--json', 'Print JSON instead of text');
  const routingShared = ['marathon', 'group', 'marathonTimeout'];
  const servedShared = ['lb', 'deliveryCheckPort'];
  for (const [keys, use] of [[routingShared, 'with --all, and for the label check'], [servedShared, 'with --served']] as const) {
    for (const key of keys) {
      const spec = sharedOption(key);
      program.addOption(new Option(spec.flags, `${spec.description} (env ${envName(spec)}; ${use})`));
    }
  }
  const refused = parseArgs(program, argv, command);
  if (refused !== undefined) return refused;
  const opts = program.opts<{ all?: boolean; served?: boolean; json?: boolean } & Record<string, string | undefined>>();
  const shared = (key: string): unknown => {
    const spec = sharedOption(key);
    const text = opts[key] ?? env[envName(spec)] ?? spec.defaultText ?? '';
    return spec.parse(text);
  };
  const flag = (key: string): string => /--[a-z-]+/.exec(program.options.find((o) => o.attributeName() === key)?.flags ?? '')?.[0] ?? key;
  try {
    const timeoutText = opts['timeout'] ?? '10';
    const timeoutMs = parseSeconds(timeoutText);
    if (timeoutMs < 1000) throw new ConfigError(`'${timeoutText}' is too short for --timeout; give at least 1 second`);
    const names = program.args;
    const json = opts.json === true;
    const routingOnly = ['all', 'lbHttp', 'acmeApp', ...routingShared].filter((key) => program.getOptionValueSource(key) === 'cli');
    const servedOnly = ['storageDir', ...servedShared].filter((key) => program.getOptionValueSource(key) === 'cli');
    if (opts.served === true) {
      const [wrong] = routingOnly;
      if (wrong !== undefined) return usageError(`${flag(wrong)} belongs to the routing check and does not go with --served`, command);
      const storageDir = opts['storageDir'] ?? env[STORAGE_DIR_ENV];
      if (storageDir === undefined || storageDir === '') return usageError(`--served needs the storage directory: give --storage-dir (or set ${STORAGE_DIR_ENV})`, command);
      const port = shared('deliveryCheckPort') as number;
      if (port === 0) return usageError("--served needs marathon-lb's TLS port; --delivery-check-port 0 only turns the daemon's own check off", command);
      return {
        kind: 'check',
        request: { names, all: false, marathon: undefined, lbHttp: undefined, timeoutMs, json, served: { storageDir, lbUrls: shared('lb') as string[], port, timeoutMs } },
      };
    }
    const [misplaced] = servedOnly;
    if (misplaced !== undefined) return usageError(`${flag(misplaced)} goes with --served`, command);
    if (opts['lbHttp'] !== undefined) parseLbHttp(opts['lbHttp']);
    if (names.length === 0 && opts.all !== true) return usageError('give the names to check, or --all', command);
    const acmeAppId = opts['acmeApp'];
    // Marathon is read when the operator points at it (or the daemon's environment does): not by default,
    // so that checking a name from a laptop does not wait on marathon.mesos.
    const withMarathon = opts.all === true || acmeAppId !== undefined || opts['marathon'] !== undefined || env[envName(sharedOption('marathon'))] !== undefined;
    return {
      kind: 'check',
      request: {
        names,
        all: opts.all === true,
        marathon: withMarathon
          ? { urls: shared('marathon') as string[], group: shared('group') as string, timeoutMs: shared('marathonTimeout') as number, acmeAppId }
          : undefined,
        lbHttp: opts['lbHttp'],
        timeoutMs,
        json,
        served: undefined,
      },
    };
  } catch (err) {
    if (err instanceof Error) return usageError(err.message, command);
    throw err;
  }
}

/**
 * `status` reads only the storage directory, so it takes none of the daemon's options: the
 * MARATHON_ACME_* variables of a daemon's environment cannot make it fail.
 */
function parseStatus(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  const command = `${PROGRAM} status`;
  const program = newProgram(
    command,
    'Print the stored certificates (certs/, unmanaged-certs/, retired-certs/) with names, expiry, days left, key type, issuer and state, most urgent first; reads the storage directory only, changes nothing and needs no running daemon',
  )
    .argument('[storage-dir]', `Path to the storage directory (env ${STORAGE_DIR_ENV})`)
    .option('--json', 'Print JSON instead of a table (ISO dates; the field names are stable)')
    .allowExcessArguments(false);
  const refused = parseArgs(program, argv, command);
  if (refused !== undefined) return refused;
  const storageDir = program.args[0] ?? env[STORAGE_DIR_ENV];
  if (storageDir === undefined || storageDir === '') {
    return usageError(`missing required argument 'storage-dir' (or set ${STORAGE_DIR_ENV})`, command);
  }
  return { kind: 'status', storageDir, json: program.opts<{ json?: boolean }>().json === true };
}

/**
 * argv (without node and script) plus the environment → a validated Config, or an exit code and the
 * text to print. Flags win over environment variables, environment variables over defaults.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliResult {
  // `plan` takes the daemon's own options, so it sees exactly what the daemon would.
  const kind = argv[0] === 'plan' ? 'plan' : 'run';
  const program = buildProgram(kind);
  if (kind === 'plan') argv = argv.slice(1);
  const refused = parseArgs(program, argv, PROGRAM);
  if (refused !== undefined) return refused;

  const values = program.opts<Record<string, unknown>>();
  for (const spec of OPTIONS) {
    const source = program.getOptionValueSource(spec.key);
    const name = envName(spec);
    const raw = env[name];
    if (source === 'cli' || raw === undefined) continue;
    try {
      if (spec.choices !== undefined && !spec.choices.includes(raw)) {
        throw new ConfigError(`'${raw}' is invalid. Allowed choices are ${spec.choices.join(', ')}.`);
      }
      const value = spec.parse(raw);
      if (value !== undefined) values[spec.key] = value;
    } catch (err) {
      if (err instanceof ConfigError) return usageError(`environment variable ${name}: ${err.message}`);
      throw err;
    }
  }

  const storageDir = program.args[0] ?? env[STORAGE_DIR_ENV];
  if (storageDir === undefined || storageDir === '') {
    return usageError(`missing required argument 'storage-dir' (or set ${STORAGE_DIR_ENV})`);
  }

  let multipleDomains = values['multipleDomains'] as MultipleDomainsMode;
  if (values['allowMultipleCerts'] === true) {
    if (program.getOptionValueSource('multipleDomains') === 'cli' && multipleDomains !== 'separate') {
      return usageError(`--allow-multiple-certs means --multiple-domains separate and contradicts --multiple-domains ${multipleDomains}`);
    }
    multipleDomains = 'separate';
  }
  const eabKid = values['eabKid'] as string | undefined;
  const eabHmacKey = values['eabHmacKey'] as string | undefined;
  if ((eabKid === undefined) !== (eabHmacKey === undefined)) {
    return usageError('--eab-kid and --eab-hmac-key go together: give both or neither');
  }

  return {
    kind,
    logFormat: values['logFormat'] as LogFormat | undefined,
    config: {
      storageDir,
      acmeDirectoryUrl: values['acme'] as string,
      email: values['email'] as string | undefined,
      marathonUrls: values['marathon'] as string[],
      lbUrls: values['lb'] as string[],
      group: values['group'] as string,
      multipleDomains,
      listen: values['listen'] as Config['listen'],
      marathonTimeoutMs: values['marathonTimeout'] as number,
      sseTimeoutMs: values['sseTimeout'] as number,
      syncIntervalMs: values['syncInterval'] as number,
      renewalIntervalMs: values['renewalInterval'] as number,
      maxConcurrentOrders: values['maxConcurrentOrders'] as number,
      retireAfterMs: values['retireAfter'] as number,
      allowedDomains: values['allowedDomains'] as string[] | undefined,
      maxNamesPerApp: values['maxNamesPerApp'] as number,
      // commander stores --no-preflight as false.
      preflight: values['preflight'] === false ? 'off' : (values['preflight'] as PreflightMode),
      preflightPort: values['preflightPort'] as number,
      acmeCaFile: values['acmeCaFile'] as string | undefined,
      acmeTimeoutMs: values['acmeTimeout'] as number,
      logLevel: values['logLevel'] as LogLevel,
      keyType: values['keyType'] as KeyType,
      eab: eabKid !== undefined && eabHmacKey !== undefined ? { kid: eabKid, hmacKey: eabHmacKey } : undefined,
      acmeProfile: values['acmeProfile'] as string | undefined,
      deliveryCheckPort: values['deliveryCheckPort'] as number,
      deliveryCheckIntervalMs: values['deliveryCheckInterval'] as number,
      notifyUrls: (values['notifyUrl'] as string[] | undefined) ?? [],
      notifyAfterFailures: values['notifyAfterFailures'] as number,
    },
  };
}

/** The start-up log line's view of the configuration: every setting, no secret. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    storageDir: config.storageDir,
    acme: config.acmeDirectoryUrl,
    email: config.email ?? null,
    marathon: config.marathonUrls.map(redactUrlText),
    lb: config.lbUrls.map(redactUrlText),
    group: config.group,
    multipleDomains: config.multipleDomains,
    listen: `${config.listen.host}:${config.listen.port}`,
    marathonTimeoutSeconds: config.marathonTimeoutMs / 1000,
    sseTimeoutSeconds: config.sseTimeoutMs / 1000,
    syncIntervalSeconds: config.syncIntervalMs / 1000,
    renewalIntervalSeconds: config.renewalIntervalMs / 1000,
    maxConcurrentOrders: config.maxConcurrentOrders,
    retireAfterSeconds: config.retireAfterMs / 1000,
    allowedDomains: config.allowedDomains ?? null,
    maxNamesPerApp: config.maxNamesPerApp,
    preflight: config.preflight,
    preflightPort: config.preflightPort,
    acmeCaFile: config.acmeCaFile ?? null,
    acmeTimeoutSeconds: config.acmeTimeoutMs / 1000,
    keyType: config.keyType,
    eabKid: config.eab?.kid ?? null,
    eabHmacKey: config.eab === undefined ? null : '***',
    acmeProfile: config.acmeProfile ?? null,
    deliveryCheckPort: config.deliveryCheckPort,
    deliveryCheckIntervalSeconds: config.deliveryCheckIntervalMs / 1000,
    notifyUrls: config.notifyUrls.map(webhookDisplay),
    notifyAfterFailures: config.notifyAfterFailures,
    logLevel: config.logLevel,
  };
}
