/** `--ca-config <file>`: the CAs' JSON file turned into CaSettings (src/ca/ca-config.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LETS_ENCRYPT_LIMITS } from '../../src/acme/rate-budget.js';
import { parseCaConfig, type CaConfigFiles, type CaDefaults } from '../../src/ca/ca-config.js';
import { ConfigError, LETS_ENCRYPT_DIRECTORY } from '../../src/config.js';

const FILE = '/etc/marathon-acme/cas.json';
const PRIVATE = 'https://acme.internal.example/directory';
const SECRET = 'c2VjcmV0LW1hYy1rZXk';
const DEFAULTS: CaDefaults = { keyType: 'rsa2048', caFile: undefined };
const LIMITS = { ordersPerWindow: 10, orderWindowSeconds: 3600, certificatesPerDomain: 5, domainWindowSeconds: 86400 };

/** Files by absolute path; any other path cannot be read, as a missing file. */
function filesOf(contents: Record<string, string> = {}): CaConfigFiles {
  const read = (path: string): string => {
    const text = contents[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  };
  return { read, checkReadable: (path) => void read(path) };
}

function parse(value: unknown, files: CaConfigFiles = filesOf(), defaults: CaDefaults = DEFAULTS) {
  return parseCaConfig(JSON.stringify(value), FILE, defaults, files);
}

/** The message of the ConfigError `value` is refused with. */
function refusal(value: unknown, files: CaConfigFiles = filesOf()): string {
  try {
    parseCaConfig(typeof value === 'string' ? value : JSON.stringify(value), FILE, DEFAULTS, files);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  assert.fail(`expected ${JSON.stringify(value)} to be refused`);
}

describe('the CA configuration file', () => {
  it('gives the CAs in its order, each with its own settings, and the defaults where an entry says nothing', () => {
    const files = filesOf({ '/etc/marathon-acme/private-root.pem': 'PEM', '/etc/marathon-acme/limits/private.json': JSON.stringify(LIMITS) });
    const cas = parse(
      {
        cas: [
          { directory: LETS_ENCRYPT_DIRECTORY, profile: 'tlsserver', preferredChain: 'ISRG Root X1' },
          { directory: PRIVATE, eabKid: 'kid-1', eabHmacKey: SECRET, caFile: 'private-root.pem', keyType: 'ecdsa-p256', rateLimits: 'limits/private.json' },
        ],
      },
      files,
      { keyType: 'rsa4096', caFile: '/etc/ssl/extra.pem' },
    );
    assert.deepEqual(cas, [
      {
        directoryUrl: LETS_ENCRYPT_DIRECTORY,
        caFile: '/etc/ssl/extra.pem',
        keyType: 'rsa4096',
        eab: undefined,
        profile: 'tlsserver',
        preferredChain: 'ISRG Root X1',
        rateLimits: { limits: LETS_ENCRYPT_LIMITS, source: "Let's Encrypt's (the default for its directory)" },
      },
      {
        directoryUrl: PRIVATE,
        caFile: '/etc/marathon-acme/private-root.pem',
        keyType: 'ecdsa-p256',
        eab: { kid: 'kid-1', hmacKey: SECRET },
        profile: undefined,
        preferredChain: undefined,
        rateLimits: {
          limits: { ordersPerWindow: 10, orderWindowMs: 3_600_000, certsPerDomainPerWindow: 5, domainWindowMs: 86_400_000 },
          source: 'the file /etc/marathon-acme/limits/private.json',
        },
      },
    ]);
  });

  it('takes every form of rateLimits, and a CA without one gets its default', () => {
    const limitsOf = (rateLimits: unknown, directory = PRIVATE) => parse({ cas: [{ directory, rateLimits }] })[0].rateLimits;
    assert.equal(limitsOf('letsencrypt').limits, LETS_ENCRYPT_LIMITS);
    assert.match(limitsOf('letsencrypt').source, /cas\[0\]\.rateLimits/);
    assert.equal(limitsOf('none', LETS_ENCRYPT_DIRECTORY).limits, undefined);
    assert.equal(limitsOf(LIMITS).limits?.ordersPerWindow, 10);
    assert.equal(limitsOf(undefined).limits, undefined, "none for a CA other than Let's Encrypt");
    assert.equal(limitsOf(undefined, LETS_ENCRYPT_DIRECTORY).limits, LETS_ENCRYPT_LIMITS);
  });

  it('takes relative paths from the directory of the file, absolute ones as written', () => {
    const files = filesOf({ '/etc/marathon-acme/ca.pem': 'PEM', '/srv/ca.pem': 'PEM' });
    assert.equal(parse({ cas: [{ directory: PRIVATE, caFile: './ca.pem' }] }, files)[0].caFile, '/etc/marathon-acme/ca.pem');
    assert.equal(parse({ cas: [{ directory: PRIVATE, caFile: '/srv/ca.pem' }] }, files)[0].caFile, '/srv/ca.pem');
  });

  // Each row: the file, and what the message must say besides the file's name.
  const MALFORMED: readonly [string, unknown, RegExp][] = [
    ['not JSON', '{"cas": [', /is not JSON/],
    ['not an object', '[]', /must hold a JSON object: \{"cas"/],
    ['no cas', {}, /'cas' is missing/],
    ['a misspelt top-level field', { cas: [{ directory: PRIVATE }], ca: [] }, /unknown field 'ca'; the file holds only 'cas'/],
    ['cas not a list', { cas: { directory: PRIVATE } }, /'cas' must be a list of CAs, not an object/],
    ['an empty list', { cas: [] }, /'cas' is empty; give at least one CA/],
    ['an entry not an object', { cas: [PRIVATE] }, /cas\[0\] must be an object with at least 'directory', not a string/],
    ['no directory', { cas: [{ directory: PRIVATE }, { profile: 'x' }] }, /cas\[1\]: 'directory' is missing/],
    ['a misspelt field', { cas: [{ directory: PRIVATE, eab_kid: 'k' }] }, /cas\[0\]: unknown field 'eab_kid' \(did you mean 'eabKid'\?\); the fields are directory, eabKid/],
    ['a field of the wrong type', { cas: [{ directory: PRIVATE, profile: 3 }] }, /cas\[0\]\.profile must be a non-empty string, not 3/],
    ['an empty string', { cas: [{ directory: PRIVATE, preferredChain: ' ' }] }, /cas\[0\]\.preferredChain must be a non-empty string/],
    ['not a URL', { cas: [{ directory: 'acme.example' }] }, /cas\[0\]\.directory: 'acme\.example' is not a valid URL/],
    ['not http(s)', { cas: [{ directory: 'ftp://acme.example/dir' }] }, /cas\[0\]\.directory: 'ftp:\/\/acme\.example\/dir' must be an http:\/\/ or https:\/\/ URL/],
    ['the same directory twice', { cas: [{ directory: PRIVATE }, { directory: 'https://ACME.internal.example:443/directory' }] }, /cas\[1\]\.directory is the directory of cas\[0\] as well/],
    ['half a binding', { cas: [{ directory: PRIVATE, eabKid: 'kid' }] }, /cas\[0\]: eabKid and eabHmacKey go together: give both or neither/],
    ['an unknown key type', { cas: [{ directory: PRIVATE, keyType: 'dsa' }] }, /cas\[0\]\.keyType 'dsa' is not a key type; one of rsa2048, rsa4096, ecdsa-p256, ecdsa-p384/],
    ['a missing CA file', { cas: [{ directory: PRIVATE, caFile: 'gone.pem' }] }, /cas\[0\]\.caFile: cannot read \/etc\/marathon-acme\/gone\.pem: ENOENT/],
    ['a missing limits file', { cas: [{ directory: PRIVATE, rateLimits: 'limits.json' }] }, /cas\[0\]\.rateLimits: cannot read the rate limits file \/etc\/marathon-acme\/limits\.json/],
    ['limits of the wrong type', { cas: [{ directory: PRIVATE, rateLimits: 5 }] }, /cas\[0\]\.rateLimits must be "letsencrypt", "none", the path of a JSON file of limits or an object of limits, not 5/],
    ['inline limits with a field missing', { cas: [{ directory: PRIVATE, rateLimits: { ordersPerWindow: 1 } }] }, /cas\[0\]\.rateLimits: 'orderWindowSeconds' is missing/],
  ];
  for (const [what, value, message] of MALFORMED) {
    it(`refuses ${what}, naming the file and where in it`, () => {
      const text = refusal(value);
      assert.ok(text.includes(FILE), text);
      assert.match(text, message);
    });
  }

  it('refuses a limits file that is not JSON or not limits, naming the entry and the file', () => {
    const files = filesOf({ '/etc/marathon-acme/limits.json': '{"ordersPerWindow": ' });
    assert.match(refusal({ cas: [{ directory: PRIVATE, rateLimits: 'limits.json' }] }, files), /cas\[0\]\.rateLimits: the rate limits file \/etc\/marathon-acme\/limits\.json is not JSON/);
    const notLimits = filesOf({ '/etc/marathon-acme/limits.json': '{"burst": 3}' });
    assert.match(refusal({ cas: [{ directory: PRIVATE, rateLimits: 'limits.json' }] }, notLimits), /cas\[0\]\.rateLimits: the rate limits file \/etc\/marathon-acme\/limits\.json: unknown field 'burst'/);
  });

  const FIELDS = ['directory', 'eabKid', 'eabHmacKey', 'caFile', 'profile', 'preferredChain', 'keyType', 'rateLimits'];
  const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.constant(''), fc.constant('  '));

  it('refuses any field of the wrong type in any entry, naming the file, the entry and the field, and never the MAC key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.constantFrom(...FIELDS.filter((f) => f !== 'rateLimits')), notAString, (at, field, bad) => {
        const cas = Array.from({ length: at + 1 }, (_, i) => ({ directory: `https://ca${i}.example/dir`, eabKid: 'kid', eabHmacKey: SECRET }));
        cas[at] = { ...cas[at], [field]: bad } as (typeof cas)[number];
        const text = refusal({ cas });
        assert.ok(text.startsWith(`${FILE}: cas[${at}]`), text);
        assert.ok(text.includes(field), text);
        assert.ok(!text.includes(SECRET), text);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses any field it does not know, naming it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }).filter((key) => !FIELDS.includes(key) && key !== '__proto__'), (key) => {
        const text = refusal({ cas: [{ directory: PRIVATE, [key]: 'x' }] });
        assert.ok(text.startsWith(`${FILE}: cas[0]: unknown field '${key}'`), text);
      }),
      { numRuns: 300 },
    );
  });

  it('answers any JSON, or any cut of a good file, with CAs or a ConfigError, never another error', () => {
    const good = JSON.stringify({ cas: [{ directory: PRIVATE, eabKid: 'kid', eabHmacKey: SECRET, rateLimits: LIMITS }, { directory: LETS_ENCRYPT_DIRECTORY }] });
    const cut = fc.nat({ max: good.length }).map((end) => good.slice(0, end));
    const anyJson = fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.jsonValue().map((v) => JSON.stringify({ cas: [v] })), cut);
    fc.assert(
      fc.property(anyJson, (text) => {
        try {
          parseCaConfig(text, FILE, DEFAULTS, filesOf());
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(!err.message.includes(SECRET), err.message);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never shows the MAC key, whatever else is wrong with the entry or the file', () => {
    assert.equal(refusal(`{"cas": [{"directory": "${PRIVATE}", "eabKid": "kid", "eabHmacKey": ${SECRET}}]}`), `the CA configuration ${FILE} is not JSON`);
    assert.match(refusal(`{"cas": [{"eabHmacKey": "${SECRET}"`), /is not JSON: Expected ',' or '}' after property value in JSON at position \d+/);
    for (const entry of [
      { directory: 'not a url', eabKid: 'kid', eabHmacKey: SECRET },
      { directory: PRIVATE, eabHmacKey: SECRET },
      { directory: PRIVATE, eabKid: 'kid', eabHmacKey: SECRET, keyType: 'dsa' },
      { directory: PRIVATE, eabKid: 'kid', eabHmacKey: [SECRET] },
    ]) {
      assert.doesNotMatch(refusal({ cas: [entry] }), new RegExp(SECRET));
    }
  });
});
