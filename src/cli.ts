/**
 * The command line, as one module for its users; the parts live in src/cli/: the option table
 * (options.ts), the precedence of flags and variables (precedence.ts, settings.ts), each command's
 * parser (daemon-args.ts for the daemon, `plan` and `renew'; admin-args.ts for `account rollover` and
 * `revoke`; check-args.ts; status-args.ts) and the dispatch between them (commands.ts).
 */
export { parseCommandLine, type CommandLine } from './cli/commands.js';
export { parseCli, type CliResult, type RenewCommand } from './cli/daemon-args.js';
export type { CheckCommand } from './cli/check-args.js';
export type { RevokeCommand, RolloverCommand } from './cli/admin-args.js';
export type { StatusCommand } from './cli/status-args.js';
export { describeConfig } from './cli/describe.js';
export { unknownVariables, type UnknownVariable } from './cli/environment.js';
export { OPTIONS, envName, STORAGE_DIR_ENV, type OptionSpec } from './cli/options.js';
export { PROGRAM, version } from './cli/program.js';
