import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { resolveRateLimits, type RateLimitsOption } from '../acme/rate-limits.js';
import { parseCaConfig, type CaConfigFiles, type CaDefaults, type CaList } from '../ca/ca-config.js';
import { ConfigError, type KeyType } from '../config.js';
import { errorText } from '../util/error-text.js';

/**
 * The options that name one CA's account, profiles, issuers or limits, with the field of a --ca-config
 * entry that says the same for each CA. From --acme they apply to the primary only.
 */
const PRIMARY_ONLY: ReadonlyMap<string, string> = new Map([
  ['eabKid', 'eabKid'],
  ['eabHmacKey', 'eabHmacKey'],
  ['acmeProfile', 'profile'],
  ['preferredChain', 'preferredChain'],
  ['rateLimits', 'rateLimits'],
]);

const NODE_FILES: CaConfigFiles = {
  read: (path) => readFileSync(path, 'utf8'),
  checkReadable: (path) => {
    if (!statSync(path).isFile()) throw new Error('not a file');
    accessSync(path, constants.R_OK);
  },
};

/**
 * The CAs of the command line, primary first: those of --ca-config's file, or one for each --acme
 * directory. `given` names the options a flag or variable gave (see resolveSettings). Throws a
 * ConfigError for a usage error.
 */
export function casOf(values: ReadonlyMap<string, unknown>, given: ReadonlyMap<string, string>): CaList {
  const defaults: CaDefaults = { keyType: values.get('keyType') as KeyType, caFile: values.get('acmeCaFile') as string | undefined };
  const file = values.get('caConfig') as string | undefined;
  if (file === undefined) return casOfFlags(values, defaults);
  const caConfig = given.get('caConfig') ?? '--ca-config';
  const acme = given.get('acme');
  if (acme !== undefined) throw new ConfigError(`${acme} does not go with ${caConfig}: the CAs are listed in ${file}, each with its "directory"`);
  for (const [key, field] of PRIMARY_ONLY) {
    const by = given.get(key);
    if (by !== undefined) throw new ConfigError(`${by} does not go with ${caConfig}: set it per CA in ${file} ("${field}")`);
  }
  let text: string;
  try {
    text = NODE_FILES.read(file);
  } catch (err) {
    throw new ConfigError(`cannot read the CA configuration ${file}: ${errorText(err)}`);
  }
  return parseCaConfig(text, file, defaults, NODE_FILES);
}

/** --key-type and --acme-ca-file apply to every CA; the others, which belong to one CA, to the primary. */
function casOfFlags(values: ReadonlyMap<string, unknown>, defaults: CaDefaults): CaList {
  const eabKid = values.get('eabKid') as string | undefined;
  const eabHmacKey = values.get('eabHmacKey') as string | undefined;
  if ((eabKid === undefined) !== (eabHmacKey === undefined)) throw new ConfigError('--eab-kid and --eab-hmac-key go together: give both or neither');
  const [primary, ...others] = values.get('acme') as [string, ...string[]];
  return [
    {
      directoryUrl: primary,
      caFile: defaults.caFile,
      keyType: defaults.keyType,
      eab: eabKid !== undefined && eabHmacKey !== undefined ? { kid: eabKid, hmacKey: eabHmacKey } : undefined,
      profile: values.get('acmeProfile') as string | undefined,
      preferredChain: values.get('preferredChain') as string | undefined,
      rateLimits: resolveRateLimits(values.get('rateLimits') as RateLimitsOption | undefined, primary),
    },
    ...others.map((directoryUrl) => ({
      directoryUrl,
      caFile: defaults.caFile,
      keyType: defaults.keyType,
      eab: undefined,
      profile: undefined,
      preferredChain: undefined,
      rateLimits: resolveRateLimits(undefined, directoryUrl),
    })),
  ];
}
