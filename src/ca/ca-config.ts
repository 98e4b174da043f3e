/**
 * `--ca-config <file>`: the CAs orders may go to, in the order they are tried, each with what belongs
 * to it alone (account binding, trust, profile, chain, key type, rate budget). This module turns the
 * file's text into CaSettings; the files it names are reached through CaConfigFiles, so that the
 * reading stays with the caller.
 */
import { dirname, resolve } from 'node:path';
import { ConfigError, KEY_TYPES, parseHttpUrl, type CaSettings, type KeyType } from '../config.js';
import { parseLimits, resolveRateLimits, type RateLimits } from '../acme/rate-limits.js';
import { closest } from '../util/edit-distance.js';
import { errorText } from '../util/error-text.js';
import { directoryKey } from './ca-options.js';

/** Never empty: the first is the primary. */
export type CaList = [CaSettings, ...CaSettings[]];

/** What an entry that does not say takes: `--key-type` and `--acme-ca-file`, which apply to every CA. */
export interface CaDefaults {
  keyType: KeyType;
  caFile: string | undefined;
}

/** The files an entry names, by absolute path; each throws an Error that says why it cannot. */
export interface CaConfigFiles {
  read(path: string): string;
  /** Throws unless `path` is a file this process may read. */
  checkReadable(path: string): void;
}

const FIELDS = ['directory', 'eabKid', 'eabHmacKey', 'caFile', 'profile', 'preferredChain', 'keyType', 'rateLimits'] as const;
type Field = (typeof FIELDS)[number];

const SHAPE = '{"cas": [{"directory": "https://..."}, ...]}';

/**
 * The CAs of the file `file` holding `text`, in its order. Paths in it are relative to the file's
 * directory. Every mistake is a ConfigError naming the file, the entry and the field; the EAB MAC
 * key is a secret, so no message quotes it.
 */
export function parseCaConfig(text: string, file: string, defaults: CaDefaults, files: CaConfigFiles): CaList {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8 quotes the text around some mistakes, and that text may be an eabHmacKey.
    const reason = errorText(err);
    throw new ConfigError(`the CA configuration ${file} is not JSON${reason.includes('"') ? '' : `: ${reason}`}`);
  }
  if (!isRecord(value)) throw new ConfigError(`the CA configuration ${file} must hold a JSON object: ${SHAPE}`);
  const extra = Object.keys(value).filter((key) => key !== 'cas');
  if (extra.length > 0) throw new ConfigError(`${file}: unknown field ${quoteList(extra)}; the file holds only 'cas', the list of CAs`);
  const list = value['cas'];
  if (list === undefined) throw new ConfigError(`${file}: 'cas' is missing; the file holds ${SHAPE}, the CAs in the order they are tried`);
  if (!Array.isArray(list)) throw new ConfigError(`${file}: 'cas' must be a list of CAs, not ${typeName(list)}`);
  const [first, ...rest] = list.map((entry: unknown, index) => parseEntry(entry, { file, index, base: dirname(resolve(file)), defaults, files }));
  if (first === undefined) throw new ConfigError(`${file}: 'cas' is empty; give at least one CA`);
  const cas: CaList = [first, ...rest];
  cas.forEach((ca, index) => {
    const earlier = cas.findIndex((other) => directoryKey(other.directoryUrl) === directoryKey(ca.directoryUrl));
    if (earlier !== index) throw new ConfigError(`${file}: cas[${index}].directory is the directory of cas[${earlier}] as well; each CA goes in the list once`);
  });
  return cas;
}

interface EntryContext {
  file: string;
  index: number;
  /** The file's directory, absolute: relative paths in the file are taken from there. */
  base: string;
  defaults: CaDefaults;
  files: CaConfigFiles;
}

function parseEntry(entry: unknown, context: EntryContext): CaSettings {
  const { file, index, base, defaults, files } = context;
  const at = `${file}: cas[${index}]`;
  if (!isRecord(entry)) throw new ConfigError(`${at} must be an object with at least 'directory', not ${typeName(entry)}`);
  for (const key of Object.keys(entry)) {
    if ((FIELDS as readonly string[]).includes(key)) continue;
    const nearest = closest(plain(key), FIELDS.map(plain), 2);
    const near = FIELDS.find((field) => plain(field) === nearest);
    throw new ConfigError(`${at}: unknown field '${key}'${near === undefined ? '' : ` (did you mean '${near}'?)`}; the fields are ${FIELDS.join(', ')}`);
  }
  const textOf = (field: Field): string | undefined => {
    const v = entry[field];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v.trim() !== '') return v;
    // The MAC key's value is a secret even when it is the wrong type.
    const shown = field === 'eabHmacKey' ? '' : `, not ${JSON.stringify(v)}`;
    throw new ConfigError(`${at}.${field} must be a non-empty string${shown}`);
  };
  const directoryText = textOf('directory');
  if (directoryText === undefined) throw new ConfigError(`${at}: 'directory' is missing; each CA needs its ACME directory URL`);
  const directoryUrl = attempt(() => parseHttpUrl(directoryText.trim()), (reason) => `${at}.directory: ${reason}`);
  const eabKid = textOf('eabKid');
  const eabHmacKey = textOf('eabHmacKey');
  if ((eabKid === undefined) !== (eabHmacKey === undefined)) throw new ConfigError(`${at}: eabKid and eabHmacKey go together: give both or neither`);
  const keyTypeText = textOf('keyType');
  if (keyTypeText !== undefined && !isKeyType(keyTypeText)) {
    throw new ConfigError(`${at}.keyType '${keyTypeText}' is not a key type; one of ${KEY_TYPES.join(', ')}`);
  }
  const caFileText = textOf('caFile');
  const caFile = caFileText === undefined ? defaults.caFile : readableFile(resolve(base, caFileText), `${at}.caFile`, files);
  return {
    directoryUrl,
    caFile,
    keyType: keyTypeText ?? defaults.keyType,
    eab: eabKid !== undefined && eabHmacKey !== undefined ? { kid: eabKid, hmacKey: eabHmacKey } : undefined,
    profile: textOf('profile'),
    preferredChain: textOf('preferredChain'),
    rateLimits: rateLimitsOf(entry['rateLimits'], directoryUrl, `${at}.rateLimits`, context),
  };
}

/**
 * The forms of `--rate-limits` (letsencrypt, none, a file's path), or the limits themselves inline;
 * left out, the CA's default, as for a CA given by `--acme`.
 */
function rateLimitsOf(value: unknown, directoryUrl: string, at: string, { base, files }: EntryContext): RateLimits {
  if (value === undefined) return resolveRateLimits(undefined, directoryUrl);
  const word = typeof value === 'string' ? value.trim() : value;
  if (word === 'none') return { limits: undefined, source: `none (${at})` };
  if (word === 'letsencrypt') return { limits: resolveRateLimits({ kind: 'letsencrypt' }, directoryUrl).limits, source: `Let's Encrypt's (${at})` };
  if (isRecord(value)) return { limits: parseLimits(value, at), source: at };
  if (typeof word !== 'string' || word === '') {
    throw new ConfigError(`${at} must be "letsencrypt", "none", the path of a JSON file of limits or an object of limits, not ${JSON.stringify(value)}`);
  }
  const path = resolve(base, word);
  const text = attempt(() => files.read(path), (reason) => `${at}: cannot read the rate limits file ${path}: ${reason}`);
  let limits: unknown;
  try {
    limits = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${at}: the rate limits file ${path} is not JSON: ${errorText(err)}`);
  }
  return { limits: parseLimits(limits, `${at}: the rate limits file ${path}`), source: `the file ${path}` };
}

/** Checked at start: a CA further down the list may first be needed months later, long after a typo in its path. */
function readableFile(path: string, at: string, files: CaConfigFiles): string {
  attempt(() => {
    files.checkReadable(path);
  }, (reason) => `${at}: cannot read ${path}: ${reason}`);
  return path;
}

/** Runs `step`; its error becomes a ConfigError of `message`, given what the error said. */
function attempt<T>(step: () => T, message: (reason: string) => string): T {
  try {
    return step();
  } catch (err) {
    throw new ConfigError(message(errorText(err)));
  }
}

/** `eab_hmac_key`, `EabHmacKey` and `eabHmacKey` are one spelling for a "did you mean". */
function plain(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isKeyType(text: string): text is KeyType {
  return (KEY_TYPES as readonly string[]).includes(text);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function quoteList(keys: readonly string[]): string {
  return keys.map((key) => `'${key}'`).join(', ');
}
