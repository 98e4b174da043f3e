import { closest } from '../util/edit-distance.js';
import { PROGRAM } from './program.js';

/** The subcommands, in the order the help lists them. */
export const COMMANDS = ['plan', 'status', 'check', 'renew', 'account', 'revoke', 'lb-config', 'help'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Words an operator may type as a command: the subcommands, and `version` for `--version`. */
const WORDS: readonly string[] = [...COMMANDS, 'version'];

function suggestion(word: string): string {
  return word === 'version' ? `${PROGRAM} --version` : `${PROGRAM} ${word}`;
}

/**
 * A storage-directory argument that is really a command: one named exactly like a command (the
 * command was put after an option, or is not one), or one that does not exist and is within two
 * typing mistakes of one (`stauts`). Undefined when the argument can stand as a directory; a path
 * with a slash always can, which is also the way to name a directory called `status`.
 */
export function mistakenCommand(arg: string, exists: (path: string) => boolean): string | undefined {
  if (arg.includes('/')) return undefined;
  if (WORDS.includes(arg)) {
    return `'${arg}' is a command, not a storage directory: did you mean '${suggestion(arg)}'? (a command comes before its options; for a directory of that name, write ./${arg})`;
  }
  if (exists(arg)) return undefined;
  const near = closest(arg.toLowerCase(), WORDS, 2);
  return near === undefined ? undefined : `storage directory '${arg}' does not exist: did you mean '${suggestion(near)}'?`;
}

/** For `help <word>` and the like: "unknown command", with the nearest command if there is one. */
export function unknownCommand(word: string): string {
  const near = closest(word.toLowerCase(), COMMANDS, 2);
  return near === undefined
    ? `unknown command '${word}' (commands: ${COMMANDS.join(', ')})`
    : `unknown command '${word}': did you mean '${PROGRAM} ${near}'?`;
}
