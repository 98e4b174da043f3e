import type { Command } from 'commander';
import type { Config } from '../config.js';
import { normaliseHostname } from '../domains/hostname.js';
import type { LogFormat } from '../log.js';
import { parseRevocationReason, type RevocationReasonName } from '../revoke/reason.js';
import { closest } from '../util/edit-distance.js';
import { parseWithDaemonOptions, toConfig, type Parsed } from './daemon-args.js';
import { readVariable } from './environment.js';
import { STORAGE_DIR_ENV } from './options.js';
import { newProgram, parseArgs, PROGRAM, usageError, type Exit } from './program.js';

/** `marathon-acme account rollover`: replace the account key (src/account/rollover.ts). */
export interface RolloverCommand {
  kind: 'account-rollover';
  config: Config;
  logFormat: LogFormat | undefined;
}

/** `marathon-acme revoke <name>`: revoke the certificate in certs/ and retire it (src/revoke/command.ts). */
export interface RevokeCommand {
  kind: 'revoke';
  config: Config;
  logFormat: LogFormat | undefined;
  /** Normalised as the labels' names are. */
  name: string;
  /** Undefined: none given, which the CA records as unspecified. */
  reason: RevocationReasonName | undefined;
}

/** The daemon's options each command reads; it accepts the others too (see parseWithDaemonOptions). */
const ROLLOVER_OPTIONS = new Set(['acme', 'acmeCaFile', 'acmeTimeout', 'logLevel', 'logFormat']);
const REVOKE_OPTIONS = new Set(['acme', 'acmeCaFile', 'acmeTimeout', 'lb', 'marathonCaFile', 'logLevel', 'logFormat']);

const DAEMON_STOPPED =
  "so it takes the storage directory's lock and refuses to run while a daemon works on the directory: stop the daemon first (or run this in its place), and start it again afterwards. " +
  "It also accepts the daemon's other options and variables, so the daemon's command line works unchanged";

const ROLLOVER_HELP =
  'Replace the ACME account key (RFC 8555 §7.3.5): make a new key of the same kind as client.key (RSA of the same size, or EC on the same curve), have the CA move the account to it, and put it in client.key; the account, its URL and its certificates stay. ' +
  `The old key is not kept: it no longer acts for the account. A running daemon holds the old key, ${DAEMON_STOPPED}`;

const REVOKE_HELP =
  'Revoke the certificate certs/<name>.pem at the CA (RFC 8555 §7.6, signed with the account key), move it to retired-certs/ and signal every marathon-lb. Irreversible; the daemon never revokes on its own. ' +
  `If an app still wants the name, the daemon orders a new certificate, with a new key, when it runs again. A running daemon writes certs/, ${DAEMON_STOPPED}`;

const SUBCOMMANDS = ['rollover'];

function storageDirOption(program: Command): void {
  program.option('--storage-dir <dir>', `The storage directory (env ${STORAGE_DIR_ENV})`);
}

function storageDirOf(program: Command, env: NodeJS.ProcessEnv): string | undefined {
  const flag = program.opts<{ storageDir?: string }>().storageDir;
  return (flag !== undefined && flag.trim() !== '' ? flag : undefined) ?? readVariable(env, STORAGE_DIR_ENV);
}

/**
 * `account <subcommand>`: only `rollover` so far. The storage directory is a flag, as for `renew`
 * and `revoke`, so that every command that changes the directory names it the same way.
 */
export function parseAccount(argv: readonly string[], env: NodeJS.ProcessEnv): RolloverCommand | Exit {
  const command = `${PROGRAM} account`;
  if (argv[0] === 'rollover') return parseRollover(argv.slice(1), env);
  const [word] = argv;
  if (word === undefined) return usageError(`missing subcommand (subcommands: ${SUBCOMMANDS.join(', ')})`, command);
  if (!word.startsWith('-')) {
    const near = closest(word.toLowerCase(), SUBCOMMANDS, 2);
    return usageError(near === undefined ? `unknown subcommand '${word}' (subcommands: ${SUBCOMMANDS.join(', ')})` : `unknown subcommand '${word}': did you mean '${command} ${near}'?`, command);
  }
  // --help, --version, or an option that belongs after the subcommand.
  const program = newProgram(command, 'Manage the ACME account of the storage directory, whose key is <storage-dir>/client.key').helpCommand(false);
  program.command('rollover').description('Replace the account key, the daemon stopped (see: marathon-acme account rollover --help)');
  return parseArgs(program, argv, command) ?? usageError(`missing subcommand (subcommands: ${SUBCOMMANDS.join(', ')})`, command);
}

function parseRollover(argv: readonly string[], env: NodeJS.ProcessEnv): RolloverCommand | Exit {
  const command = `${PROGRAM} account rollover`;
  const parsed = parseWithDaemonOptions({ command, description: ROLLOVER_HELP, shown: ROLLOVER_OPTIONS, configure: storageDirOption }, argv, env);
  if (parsed.kind === 'exit') return parsed;
  const storageDir = storageDirOf(parsed.program, env);
  if (storageDir === undefined) return usageError(`the storage directory is missing: give --storage-dir (or set ${STORAGE_DIR_ENV})`, command);
  const config = oneCaConfig(parsed, storageDir, command);
  if (config.kind === 'exit') return config;
  return { kind: 'account-rollover', config: config.config, logFormat: parsed.values.get('logFormat') as LogFormat | undefined };
}

/** `revoke <name> [--reason <reason>] [--storage-dir <dir>]` with the daemon's options. */
export function parseRevoke(argv: readonly string[], env: NodeJS.ProcessEnv): RevokeCommand | Exit {
  const command = `${PROGRAM} revoke`;
  const configure = (program: Command): void => {
    program
      .argument('<name>', 'The name of the certificate to revoke (as in certs/<name>.pem, as `marathon-acme status` lists it)')
      .option('--reason <reason>', 'keyCompromise (its private key may be known to others), superseded (replaced by another certificate) or cessationOfOperation (the name is no longer used); none: unspecified');
    storageDirOption(program);
  };
  const parsed = parseWithDaemonOptions({ command, description: REVOKE_HELP, shown: REVOKE_OPTIONS, configure }, argv, env);
  if (parsed.kind === 'exit') return parsed;
  const { program } = parsed;
  const [arg] = program.args;
  const name = normaliseHostname(arg ?? '');
  if (!name.ok) {
    const hint = (arg ?? '').includes('/') ? '; the storage directory goes in --storage-dir' : '';
    return usageError(`'${arg ?? ''}' is not a domain name: ${name.reason}${hint}`, command);
  }
  const reasonText = program.opts<{ reason?: string }>().reason;
  let reason: RevocationReasonName | undefined;
  if (reasonText !== undefined) {
    const parsedReason = parseRevocationReason(reasonText);
    if (!parsedReason.ok) return usageError(`option '--reason <reason>': ${parsedReason.message}`, command);
    reason = parsedReason.name;
  }
  const storageDir = storageDirOf(program, env);
  if (storageDir === undefined) return usageError(`the storage directory is missing: give --storage-dir (or set ${STORAGE_DIR_ENV})`, command);
  const config = oneCaConfig(parsed, storageDir, command);
  if (config.kind === 'exit') return config;
  return { kind: 'revoke', config: config.config, logFormat: parsed.values.get('logFormat') as LogFormat | undefined, name: name.name, reason };
}

/**
 * The account key and the certificates belong to one CA's account, and the command cannot guess
 * which of several CAs is meant: it takes that CA's directory alone.
 */
function oneCaConfig(parsed: Parsed, storageDir: string, command: string): ReturnType<typeof toConfig> {
  const config = toConfig(parsed, storageDir, command);
  if (config.kind === 'exit' || config.config.cas.length === 1) return config;
  const source = parsed.given.get('caConfig') ?? parsed.given.get('acme') ?? '--acme';
  return usageError(`${source} lists ${config.config.cas.length} CAs, but this command works on one CA's account: give that CA's directory alone with --acme`, command);
}
