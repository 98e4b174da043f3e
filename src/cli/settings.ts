import { ConfigError } from '../config.js';
import { readVariable } from './environment.js';
import { envName, longFlag, type OptionSpec } from './options.js';
import { resolveSetting, type Given } from './precedence.js';
import type { FlagValue } from './program.js';

/**
 * `given`: the settings a flag or a variable gave, as opposed to their default, each with the name of
 * the flag or variable that counts: some options refuse others that were asked for, and say which.
 */
export type Settings = { ok: true; values: Map<string, unknown>; given: Map<string, string> } | { ok: false; message: string };

/**
 * The value of every setting the `specs` give, by key: from the flags, the variables and the defaults,
 * under the one precedence rule of resolveSetting. A bad variable or a contradiction is a message for
 * a usage error; a bad flag never gets here (commander refuses it while parsing).
 */
export function resolveSettings(specs: readonly OptionSpec[], flags: ReadonlyMap<string, FlagValue>, env: NodeJS.ProcessEnv): Settings {
  const values = new Map<string, unknown>();
  const givenBy = new Map<string, string>();
  for (const main of specs.filter((spec) => spec.sets === undefined)) {
    const given: Given[] = [];
    let flagName: string | undefined;
    let variableName: string | undefined;
    for (const spec of specs.filter((s) => s === main || s.sets === main.key)) {
      const means = (value: unknown): Pick<Given, 'means'> => (spec === main ? {} : { means: `${longFlag(main)} ${String(value)}` });
      const flag = flags.get(spec.key);
      if (flag !== undefined) {
        given.push({ option: spec.key, from: 'flag', value: flag.value, text: flagText(spec, flag.raw), ...means(flag.value) });
        flagName ??= longFlag(spec);
      }
      const name = envName(spec);
      const raw = readVariable(env, name);
      if (raw === undefined) continue;
      let value: unknown;
      try {
        value = parseVariable(spec, raw);
      } catch (err) {
        if (err instanceof ConfigError) return { ok: false, message: `environment variable ${name}: ${err.message}` };
        throw err;
      }
      // A variable that sets nothing (MARATHON_ACME_NO_PREFLIGHT=false) takes no part.
      if (value !== undefined) {
        given.push({ option: spec.key, from: 'variable', value, text: spec.secret === true ? name : `${name}=${raw}`, ...means(value) });
        variableName ??= name;
      }
    }
    const resolved = resolveSetting(given);
    if (!resolved.ok) return resolved;
    // A flag counts over any variable, as in resolveSetting.
    const origin = flagName ?? variableName;
    if (origin !== undefined) givenBy.set(main.key, origin);
    values.set(main.key, resolved.value ?? (main.defaultText === undefined ? undefined : main.parse(main.defaultText)));
  }
  return { ok: true, values, given: givenBy };
}

function parseVariable(spec: OptionSpec, raw: string): unknown {
  if (spec.choices !== undefined && !spec.choices.includes(raw)) {
    throw new ConfigError(`'${raw}' is invalid. Allowed choices are ${spec.choices.join(', ')}.`);
  }
  return spec.parse(raw);
}

function flagText(spec: OptionSpec, raw: string | undefined): string {
  return raw === undefined || spec.secret === true ? longFlag(spec) : `${longFlag(spec)} ${raw}`;
}
