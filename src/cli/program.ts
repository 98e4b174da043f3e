import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config.js';
import { envName, type OptionSpec } from './options.js';

export const PROGRAM = 'marathon-acme';

export type Exit = { kind: 'exit'; code: number; stderr: string };

/** One line naming the problem, one pointing at the help of the command that was run. */
export function usageError(message: string, command = PROGRAM): Exit {
  return { kind: 'exit', code: 2, stderr: `${command}: ${message}\nTry '${command} --help' for the list of options.\n` };
}

/** Read from package.json, which sits two levels above both src/cli/ and dist/cli/. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * A commander program that throws instead of exiting and prints nothing on errors: parseArgs turns
 * both into an Exit, so that every command reports a usage error the same way (one line and a hint).
 * Every command has --help and --version, both exit 0.
 */
export function newProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .helpOption('-h, --help', 'Show this help message and exit')
    .version(version(), '--version', "Show the program's version number and exit")
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: (s) => process.stdout.write(s) });
}

/** Runs commander on `argv`; help and version end in exit 0, a usage error in exit 2 with a hint. */
export function parseArgs(program: Command, argv: readonly string[], command: string): Exit | undefined {
  try {
    program.parse([...argv], { from: 'user' });
    return undefined;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.exitCode === 0) return { kind: 'exit', code: 0, stderr: '' };
    return usageError(err.message.replace(/^error: /, ''), command);
  }
}

/** A value given on the command line: parsed, and the text it was parsed from (the last, if repeated). */
export interface FlagValue {
  value: unknown;
  raw: string | undefined;
}

/**
 * Adds the option `spec` describes, with its variable and default in the help, and records in `flags`
 * (by the option's key) what the command line gives it. The values are read from `flags`, not from
 * commander's store, because two options can share one commander attribute (`--preflight` and
 * `--no-preflight`) and the precedence rule must see both.
 */
export function addSpecOption(program: Command, spec: OptionSpec, flags: Map<string, FlagValue>, note?: string): Option {
  const option = new Option(spec.flags, `${spec.description} (env ${envName(spec)}${note === undefined ? '' : `; ${note}`})`);
  // Only shown in the help: values come from `flags`, the variables and the specs' defaults.
  if (spec.defaultText !== undefined) option.default(spec.defaultText, spec.defaultText);
  if (spec.choices !== undefined) {
    option.choices(spec.choices);
  } else if (spec.boolean !== true) {
    option.argParser((text: string) => {
      try {
        const value = spec.parse(text);
        const earlier = flags.get(spec.key)?.value;
        return spec.repeatable === true && Array.isArray(earlier) && Array.isArray(value) ? [...(earlier as unknown[]), ...(value as unknown[])] : value;
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
  // Registered after commander's own listener, which has stored the parsed value by then.
  program.on(`option:${option.name()}`, (raw: string | undefined) => {
    const value: unknown = spec.boolean === true ? spec.parse('true') : program.getOptionValue(option.attributeName());
    flags.set(spec.key, { value, raw });
  });
  return option;
}
