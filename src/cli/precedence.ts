import { isDeepStrictEqual } from 'node:util';

/** One value given for a setting, by a flag or by an environment variable. */
export interface Given {
  /** The key of the option that gave it (`allowMultipleCerts`); each option has a flag and a variable. */
  option: string;
  from: 'flag' | 'variable';
  value: unknown;
  /** How the operator wrote it: `--multiple-domains san`, `MARATHON_ACME_ALLOW_MULTIPLE_CERTS=true`. */
  text: string;
  /** For an option that is another way to give the setting: what it stands for (`--multiple-domains separate`). */
  means?: string;
}

export type Resolution = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * One rule for every setting, whatever number of options can give it:
 * - an option's flag beats its own variable;
 * - flags beat variables, so a flag also beats the variable of another option for the same setting;
 * - two values of the same kind (two flags, or two variables) that disagree are refused, naming both,
 *   because neither can be assumed to be the one the operator meant.
 * `value` undefined: nothing was given, the caller uses the default.
 */
export function resolveSetting(given: readonly Given[]): Resolution {
  const flagged = new Set(given.filter((g) => g.from === 'flag').map((g) => g.option));
  const effective = given.filter((g) => g.from === 'flag' || !flagged.has(g.option));
  const flags = effective.filter((g) => g.from === 'flag');
  const kind = flags.length > 0 ? flags : effective;
  const [first, ...rest] = kind;
  if (first === undefined) return { ok: true, value: undefined };
  const other = rest.find((g) => !isDeepStrictEqual(g.value, first.value));
  if (other !== undefined) return { ok: false, message: `${describe(first)} contradicts ${describe(other)}; give only one of them` };
  return { ok: true, value: first.value };
}

function describe(g: Given): string {
  return g.means === undefined ? g.text : `${g.text} (that is, ${g.means})`;
}
