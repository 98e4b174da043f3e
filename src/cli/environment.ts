import { closest } from '../util/edit-distance.js';
import { OPTIONS, STORAGE_DIR_ENV, envName } from './options.js';

const PREFIX = 'MARATHON_ACME_';

/**
 * A variable's value, or undefined when it is unset or empty (blanks only counts as empty). An empty
 * variable is how a compose file or an app definition leaves a setting out (`MARATHON_ACME_EMAIL=`),
 * so it means "not set" for every option, not "set to nothing".
 */
export function readVariable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * MARATHON_ACME_* variables that are not options but are read by something in this repository, so
 * they are not warned about: the image's entrypoint (scripts/container-start.sh) and the test suite.
 */
const OTHER_VARIABLES = [STORAGE_DIR_ENV, 'MARATHON_ACME_USER', 'MARATHON_ACME_TEST_LOGS', 'MARATHON_ACME_DELIVERY_SCALE'];

export const KNOWN_VARIABLES: readonly string[] = [...OPTIONS.map(envName), ...OTHER_VARIABLES];

/** An app label's name, which someone may set as a variable of marathon-acme's own app by mistake. */
const LABEL = /^MARATHON_ACME_\d+_DOMAIN$/;

export interface UnknownVariable {
  name: string;
  /** A known variable within a few typing mistakes of it. */
  suggestion: string | undefined;
  message: string;
}

/**
 * The MARATHON_ACME_* variables that no option or script reads: a misspelt one would otherwise be
 * ignored without a word, and its setting silently left at the default. Sorted, for stable logs.
 */
export function unknownVariables(env: NodeJS.ProcessEnv): UnknownVariable[] {
  return Object.keys(env)
    .filter((name) => name.startsWith(PREFIX) && !KNOWN_VARIABLES.includes(name))
    .sort()
    .map((name) => {
      if (LABEL.test(name)) {
        return { name, suggestion: undefined, message: `environment variable ${name} is ignored: it is an app label, which marathon-acme reads from the apps in Marathon, not from its own environment` };
      }
      const suffix = name.slice(PREFIX.length);
      // Short names are near many others: allow fewer mistakes before guessing.
      const maxDistance = suffix.length <= 3 ? 1 : suffix.length < 12 ? 2 : 3;
      const match = closest(suffix, KNOWN_VARIABLES.map((known) => known.slice(PREFIX.length)), maxDistance);
      const suggestion = match === undefined ? undefined : PREFIX + match;
      const hint = suggestion === undefined ? 'no option has this name' : `did you mean ${suggestion}?`;
      return { name, suggestion, message: `environment variable ${name} is ignored: ${hint}` };
    });
}
