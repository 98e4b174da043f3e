import { existsSync } from 'node:fs';
import { parseAccount, parseRevoke, type RevokeCommand, type RolloverCommand } from './admin-args.js';
import { parseCheck, type CheckCommand } from './check-args.js';
import { COMMANDS, unknownCommand } from './command-names.js';
import { parseCli, parseRenew, type CliResult, type RenewCommand } from './daemon-args.js';
import { usageError, type Exit } from './program.js';
import { parseLbConfig, parseStatus, type LbConfigCommand, type StatusCommand } from './status-args.js';

export type CommandLine = CliResult | StatusCommand | CheckCommand | RenewCommand | RolloverCommand | RevokeCommand | LbConfigCommand;

/**
 * Every command: the first argument names it, anything else is the daemon's command line. `exists`
 * tells a storage directory from a misspelt command (see mistakenCommand).
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): CommandLine {
  const rest = argv.slice(1);
  switch (argv[0]) {
    case 'status':
      return parseStatus(rest, env);
    case 'check':
      return parseCheck(rest, env);
    case 'renew':
      return parseRenew(rest, env);
    case 'account':
      return parseAccount(rest, env);
    case 'revoke':
      return parseRevoke(rest, env);
    case 'lb-config':
      return parseLbConfig(rest, env);
    case 'help':
      return help(rest);
    default:
      return parseCli(argv, env, exists);
  }
}

/** `help [command]`: the command's `--help`, exit 0; without one, the daemon's, which lists the commands. */
function help(args: readonly string[]): Exit {
  const [topic, ...extra] = args;
  if (extra.length > 0) return usageError(`too many arguments: help takes one command (got ${args.length})`);
  if (topic === undefined || topic === 'help' || topic === '-h' || topic === '--help') return helpOf([]);
  if ((COMMANDS as readonly string[]).includes(topic)) return helpOf([topic]);
  return usageError(unknownCommand(topic));
}

/** Commander prints the help to stdout and ends in exit 0, which parseArgs turns into this Exit. */
function helpOf(command: string[]): Exit {
  const result = parseCommandLine([...command, '--help'], {});
  if (result.kind !== 'exit') throw new Error(`--help of '${command.join(' ')}' did not end in an exit`);
  return result;
}
