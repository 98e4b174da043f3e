import type { ZkTarget } from '../zk/zk-url.js';
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ConfigError, parseSeconds, type ChallengeMode, type Config } from '../config.js';
import { normaliseHostname } from '../domains/hostname.js';
import type { LogFormat, LogLevel } from '../log.js';
import type { MultipleDomainsMode } from '../marathon/apps.js';
import type { PreflightMode } from '../preflight/decision.js';
import type { CaList } from '../ca/ca-config.js';
import type { RuntimeTarget } from '../lb/runtime/runtime-target.js';
import { casOf } from './ca-args.js';
import { mistakenCommand } from './command-names.js';
import { readVariable } from './environment.js';
import { OPTIONS, STORAGE_DIR_ENV } from './options.js';
import { addSpecOption, newProgram, parseArgs, PROGRAM, usageError, type Exit, type FlagValue } from './program.js';
import { resolveSettings } from './settings.js';

/** `logFormat` undefined: none was asked for, so the caller picks by whether the log goes to a terminal. */
export type CliResult = { kind: 'run' | 'plan'; config: Config; logFormat: LogFormat | undefined } | Exit;

/** `marathon-acme renew`: what to renew, and whether to ask the running daemon or do it here. */
export interface RenewCommand {
  kind: 'renew';
  config: Config;
  logFormat: LogFormat | undefined;
  /** Normalised as the labels' names are, without repeats; empty with `all`. */
  names: string[];
  /** Every managed certificate. */
  all: boolean;
  /** Renew in this process with the storage directory locked, instead of asking the running daemon. */
  offline: boolean;
  /** How long to wait for the running daemon's answer; 0: do not wait. */
  waitMs: number;
}

type Kind = 'run' | 'plan' | 'renew';

/**
 * The daemon's options `plan` reads (see src/plan/command.ts). `plan` accepts the others too, so that
 * the daemon's command line and environment work unchanged, but its help lists only these.
 */
const PLAN_OPTIONS = new Set(['acme', 'marathon', 'group', 'allowMultipleCerts', 'multipleDomains', 'allowedDomains', 'maxNamesPerApp', 'marathonTimeout', 'marathonCaFile', 'retireAfter', 'logLevel', 'logFormat']);

/**
 * The options an offline renewal needs (the CA account, the key, the challenge answers on --listen, the
 * preflight, the signal to the LBs); the same rule as PLAN_OPTIONS.
 */
const RENEW_OPTIONS = new Set([
  'acme', 'caConfig', 'email', 'lb', 'marathonCaFile', 'listen', 'challenges', 'preflight', 'preflightPort', 'acmeCaFile', 'acmeTimeout', 'keyType', 'eabKid', 'eabHmacKey', 'acmeProfile', 'preferredChain', 'logLevel', 'logFormat',
]);

const COMMANDS_HELP = `
Commands:
  ${PROGRAM} [options] [storage-dir]         run the daemon
  ${PROGRAM} plan [options] [storage-dir]    print what the daemon would do now
  ${PROGRAM} status [options] [storage-dir]  print the stored certificates
  ${PROGRAM} check [options] [name...]       check the challenge path, or what marathon-lb serves
  ${PROGRAM} renew [options] [name...]       renew certificates now
  ${PROGRAM} account rollover [options]      replace the ACME account key (the daemon stopped)
  ${PROGRAM} revoke [options] <name>         revoke a certificate and retire it (the daemon stopped)
  ${PROGRAM} lb-config [storage-dir]         print the HAProxy line for --challenges stateless
  ${PROGRAM} help [command]                  print the help of a command
`;

function buildProgram(kind: Kind, flags: Map<string, FlagValue>): Command {
  const command = kind === 'run' ? PROGRAM : `${PROGRAM} ${kind}`;
  const description = {
    run: `Automatically manage ACME certificates for Marathon apps served by marathon-lb (each command has its own help: ${PROGRAM} help <command>)`,
    plan: "Print what a sync and a renewal check would do now (issue, renew, retire, keep, wait, skip), with reasons; reads Marathon and the storage directory, changes nothing and contacts no CA. It also accepts the daemon's other options and variables, so the daemon's command line works unchanged; they change nothing here",
    renew:
      "Renew certificates now, whatever their renewal time: the names given, or every managed certificate with --all. By default the running daemon renews them (asked through the storage directory) and this command waits for its answer; with --offline this process renews them, the storage directory locked, for when no daemon runs. It also accepts the daemon's other options and variables, so the daemon's command line works unchanged",
  }[kind];
  const program = newProgram(command, description);
  if (kind === 'renew') {
    program
      .argument('[name...]', 'The names of the certificates to renew (as in certs/<name>.pem)')
      .option('--all', 'Renew every managed certificate')
      .option('--offline', 'Renew in this process with the storage directory locked, instead of asking the running daemon; only where no daemon runs and marathon-lb routes the challenge path to --listen here (e.g. a systemd host, the daemon stopped)')
      .addOption(new Option('--wait <seconds>', "Seconds to wait for the running daemon's answer; 0 only hands the request over").default('300', '300'))
      .option('--storage-dir <dir>', `The storage directory (env ${STORAGE_DIR_ENV})`);
  } else {
    program.argument('[storage-dir]', `Path to the directory for storing certificates (env ${STORAGE_DIR_ENV})`);
  }
  if (kind === 'run') program.allowExcessArguments(true).addHelpText('after', COMMANDS_HELP);
  addDaemonOptions(program, flags, kind === 'plan' ? PLAN_OPTIONS : kind === 'renew' ? RENEW_OPTIONS : undefined);
  return program;
}

/** Every daemon option; those not in `shown` (when given) are accepted but left out of the help. */
function addDaemonOptions(program: Command, flags: Map<string, FlagValue>, shown: ReadonlySet<string> | undefined): void {
  for (const spec of OPTIONS) {
    const option = addSpecOption(program, spec, flags);
    if (shown !== undefined && !shown.has(spec.key)) option.hideHelp();
  }
}

/** `given`: the settings a flag or variable gave, by the name of the one that counts (see resolveSettings). */
export type Parsed = { kind: 'parsed'; program: Command; values: Map<string, unknown>; given: Map<string, string> };

function parseDaemonOptions(kind: Kind, argv: readonly string[], env: NodeJS.ProcessEnv): Parsed | Exit {
  const command = kind === 'run' ? PROGRAM : `${PROGRAM} ${kind}`;
  const flags = new Map<string, FlagValue>();
  return parseWith(buildProgram(kind, flags), flags, argv, env, command);
}

/**
 * A command of its own (account rollover, revoke) that also takes the daemon's options and variables,
 * like `renew`, so that the daemon's command line and environment work unchanged; its help lists
 * only `shown`. `configure` adds the command's own arguments and options.
 */
export function parseWithDaemonOptions(
  spec: { command: string; description: string; shown: ReadonlySet<string>; configure: (program: Command) => void },
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Parsed | Exit {
  const flags = new Map<string, FlagValue>();
  const program = newProgram(spec.command, spec.description);
  spec.configure(program);
  addDaemonOptions(program, flags, spec.shown);
  return parseWith(program, flags, argv, env, spec.command);
}

function parseWith(program: Command, flags: Map<string, FlagValue>, argv: readonly string[], env: NodeJS.ProcessEnv, command: string): Parsed | Exit {
  const refused = parseArgs(program, argv, command);
  if (refused !== undefined) return refused;
  const settings = resolveSettings(OPTIONS, flags, env);
  if (!settings.ok) return usageError(settings.message, command);
  return { kind: 'parsed', program, values: settings.values, given: settings.given };
}

/**
 * argv (without node and script) plus the environment → a validated Config for the daemon, or for
 * `plan` when argv starts with it (the same options, so it sees exactly what the daemon would).
 * `exists` tells a storage directory from a misspelt command.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): CliResult {
  const kind = argv[0] === 'plan' ? 'plan' : 'run';
  const command = kind === 'run' ? PROGRAM : `${PROGRAM} plan`;
  const parsed = parseDaemonOptions(kind, kind === 'plan' ? argv.slice(1) : argv, env);
  if (parsed.kind === 'exit') return parsed;
  const args = parsed.program.args;
  if (kind === 'run') {
    // Checked before the argument count: in `marathon-acme -g web plan /d` the command is the mistake.
    const mistaken = args[0] === undefined ? undefined : mistakenCommand(args[0], exists);
    if (mistaken !== undefined) return usageError(mistaken, command);
    if (args.length > 1) return usageError(`too many arguments. Expected 1 argument but got ${args.length}.`, command);
  }
  const storageDir = args[0] ?? readVariable(env, STORAGE_DIR_ENV);
  if (storageDir === undefined) return usageError(`missing required argument 'storage-dir' (or set ${STORAGE_DIR_ENV})`, command);
  const config = toConfig(parsed, storageDir, command);
  if (config.kind === 'exit') return config;
  return { kind, config: config.config, logFormat: parsed.values.get('logFormat') as LogFormat | undefined };
}

/**
 * `renew [name...] [--all] [--offline] [--wait <seconds>] [--storage-dir <dir>]` with the daemon's
 * options. The storage directory is a flag here, not an argument: after a list of names an argument
 * could be either.
 */
export function parseRenew(argv: readonly string[], env: NodeJS.ProcessEnv): RenewCommand | Exit {
  const command = `${PROGRAM} renew`;
  const parsed = parseDaemonOptions('renew', argv, env);
  if (parsed.kind === 'exit') return parsed;
  const { program } = parsed;
  const opts = program.opts<{ all?: boolean; offline?: boolean; wait: string; storageDir?: string }>();
  const all = opts.all === true;
  const offline = opts.offline === true;
  const names: string[] = [];
  for (const arg of program.args) {
    const result = normaliseHostname(arg);
    if (!result.ok) {
      const hint = arg.includes('/') ? '; the storage directory goes in --storage-dir' : '';
      return usageError(`'${arg}' is not a domain name: ${result.reason}${hint}`, command);
    }
    if (!names.includes(result.name)) names.push(result.name);
  }
  if (all && names.length > 0) return usageError('give the names to renew or --all, not both', command);
  if (!all && names.length === 0) return usageError('give the names to renew, or --all', command);
  if (offline && program.getOptionValueSource('wait') === 'cli') {
    return usageError('--wait is how long to wait for the running daemon, and --offline asks no daemon: give one of them', command);
  }
  let waitMs: number;
  try {
    waitMs = parseSeconds(opts.wait);
  } catch (err) {
    if (err instanceof ConfigError) return usageError(`option '--wait <seconds>': ${err.message}`, command);
    throw err;
  }
  const storageDir = (opts.storageDir !== undefined && opts.storageDir.trim() !== '' ? opts.storageDir : undefined) ?? readVariable(env, STORAGE_DIR_ENV);
  if (storageDir === undefined) return usageError(`the storage directory is missing: give --storage-dir (or set ${STORAGE_DIR_ENV})`, command);
  const config = toConfig(parsed, storageDir, command);
  if (config.kind === 'exit') return config;
  return { kind: 'renew', config: config.config, logFormat: parsed.values.get('logFormat') as LogFormat | undefined, names, all, offline, waitMs };
}

export function toConfig({ values, given }: Pick<Parsed, 'values' | 'given'>, storageDir: string, command: string): { kind: 'config'; config: Config } | Exit {
  let cas: CaList;
  try {
    cas = casOf(values, given);
  } catch (err) {
    if (err instanceof ConfigError) return usageError(err.message, command);
    throw err;
  }
  const [primary] = cas;
  const lbUrls = values.get('lb') as string[];
  const lbRuntime = (values.get('lbRuntime') as Array<RuntimeTarget | undefined> | undefined) ?? [];
  if (lbRuntime.length > 0 && lbRuntime.length !== lbUrls.length) {
    return usageError(`--lb-runtime lists ${lbRuntime.length} socket(s) for ${lbUrls.length} --lb URL(s): give one per --lb, in the same order (none for an LB without one)`, command);
  }
  return {
    kind: 'config',
    config: {
      storageDir,
      acmeDirectoryUrl: primary.directoryUrl,
      email: values.get('email') as string | undefined,
      marathonUrls: values.get('marathon') as string[],
      lbUrls,
      lbRuntime,
      group: values.get('group') as string,
      multipleDomains: values.get('multipleDomains') as MultipleDomainsMode,
      listen: values.get('listen') as Config['listen'],
      marathonTimeoutMs: values.get('marathonTimeout') as number,
      sseTimeoutMs: values.get('sseTimeout') as number,
      syncIntervalMs: values.get('syncInterval') as number,
      renewalIntervalMs: values.get('renewalInterval') as number,
      maxConcurrentOrders: values.get('maxConcurrentOrders') as number,
      retireAfterMs: values.get('retireAfter') as number,
      allowedDomains: values.get('allowedDomains') as string[] | undefined,
      maxNamesPerApp: values.get('maxNamesPerApp') as number,
      preflight: values.get('preflight') as PreflightMode,
      preflightPort: values.get('preflightPort') as number,
      challenges: values.get('challenges') as ChallengeMode,
      acmeCaFile: primary.caFile,
      marathonCaFile: values.get('marathonCaFile') as string | undefined,
      acmeTimeoutMs: values.get('acmeTimeout') as number,
      logLevel: values.get('logLevel') as LogLevel,
      // The primary's, which --ca-config may set apart from --key-type.
      keyType: primary.keyType,
      eab: primary.eab,
      acmeProfile: primary.profile,
      preferredChain: primary.preferredChain,
      deliveryCheckPort: values.get('deliveryCheckPort') as number,
      deliveryCheckIntervalMs: values.get('deliveryCheckInterval') as number,
      notifyUrls: (values.get('notifyUrl') as string[] | undefined) ?? [],
      notifyAfterFailures: values.get('notifyAfterFailures') as number,
      zk: values.get('zk') as ZkTarget | undefined,
      zkSessionTimeoutMs: values.get('zkSessionTimeout') as number,
      zkOrderWindowMs: values.get('zkOrderWindow') as number,
      rateLimits: primary.rateLimits,
      cas,
      fallbackAfterMs: values.get('fallbackAfter') as number,
    },
  };
}
