/** The CAs on the command line: `--acme`'s list, `--ca-config`, `--fallback-after`; the parsing only. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LETS_ENCRYPT_LIMITS, LETS_ENCRYPT_STAGING_LIMITS } from '../../src/acme/rate-budget.js';
import { describeConfig, parseCli, parseCommandLine } from '../../src/cli.js';
import { LETS_ENCRYPT_DIRECTORY, type Config } from '../../src/config.js';
import { testConfig } from '../support/config.js';

const PRIVATE = 'https://acme.internal.example/directory';
const STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
const SECRET = 'c2VjcmV0LW1hYy1rZXk';

function run(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const result = parseCli(argv, env);
  if (result.kind === 'exit') assert.fail(`expected a config, got exit ${result.code}: ${result.stderr}`);
  return result.config;
}

/** The one line of a usage error of `command` (exit 2, then the line naming its help). */
function refusal(argv: string[], env: NodeJS.ProcessEnv = {}, command = 'marathon-acme'): string {
  const result = parseCommandLine(argv, env);
  if (result.kind !== 'exit') assert.fail(`expected a usage error for ${JSON.stringify(argv)}, got ${result.kind}`);
  assert.equal(result.code, 2);
  const [line = '', hint, end, ...more] = result.stderr.split('\n');
  assert.deepEqual([hint, end, more], [`Try '${command} --help' for the list of options.`, '', []], result.stderr);
  assert.ok(line.startsWith(`${command}: `), result.stderr);
  return line;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-cas-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A --ca-config file of `cas` in a directory of its own, with a root file beside it for `caFile`. */
async function caConfig(t: TestContext, cas: unknown[]): Promise<{ file: string; dir: string }> {
  const dir = await tempDir(t);
  const file = join(dir, 'cas.json');
  await writeFile(file, JSON.stringify({ cas }));
  await writeFile(join(dir, 'root.pem'), '-----BEGIN CERTIFICATE-----\n');
  return { file, dir };
}

/** The single-CA settings of Config, which must be the primary's. */
function singleCa(c: Config) {
  return { directoryUrl: c.acmeDirectoryUrl, caFile: c.acmeCaFile, keyType: c.keyType, eab: c.eab, profile: c.acmeProfile, preferredChain: c.preferredChain, rateLimits: c.rateLimits };
}

describe('--acme with several CAs', () => {
  it("is one CA by default, Let's Encrypt's production directory, with a fallback after an hour", () => {
    const c = run(['/d']);
    assert.deepEqual(c.cas, [singleCa(c)]);
    assert.equal(c.acmeDirectoryUrl, LETS_ENCRYPT_DIRECTORY);
    assert.equal(c.cas[0]?.rateLimits.limits, LETS_ENCRYPT_LIMITS);
    assert.equal(c.fallbackAfterMs, 3_600_000);
  });

  it('takes a comma-separated list, in order, from the flag or the variable; the first is the primary', () => {
    const c = run(['--acme', `${PRIVATE}, ${STAGING}`, '/d']);
    assert.deepEqual(c.cas.map((ca) => ca.directoryUrl), [PRIVATE, STAGING]);
    assert.equal(c.acmeDirectoryUrl, PRIVATE);
    assert.deepEqual(run(['/d'], { MARATHON_ACME_ACME: `${STAGING},${PRIVATE}` }).cas.map((ca) => ca.directoryUrl), [STAGING, PRIVATE]);
    assert.deepEqual(run(['-a', PRIVATE, '/d'], { MARATHON_ACME_ACME: STAGING }).cas.map((ca) => ca.directoryUrl), [PRIVATE], 'the flag wins');
  });

  it('refuses a directory listed twice, the same once normalised, naming it', () => {
    assert.match(refusal(['--acme', `${PRIVATE},https://ACME.internal.example:443/directory`, '/d']), /--acme .*'https:\/\/ACME\.internal\.example:443\/directory' is listed twice; each CA goes in the list once/);
    assert.match(refusal(['/d'], { MARATHON_ACME_ACME: `${PRIVATE},${PRIVATE}` }), /environment variable MARATHON_ACME_ACME: 'https:\/\/acme\.internal\.example\/directory' is listed twice/);
    assert.match(refusal(['--acme', `${PRIVATE},,${STAGING}`, '/d']), /has an empty item/);
    assert.match(refusal(['--acme', `${PRIVATE},ftp://ca.example/dir`, '/d']), /'ftp:\/\/ca\.example\/dir' must be an http:\/\/ or https:\/\/ URL/);
  });

  it('gives --key-type and --acme-ca-file to every CA, and the options of one CA to the primary only', () => {
    const c = run([
      '--acme', `${PRIVATE},${STAGING}`, '--key-type', 'ecdsa-p256', '--acme-ca-file', '/etc/ssl/private-roots.pem',
      '--eab-kid', 'kid-1', '--eab-hmac-key', SECRET, '--acme-profile', 'tlsserver', '--preferred-chain', 'Private Root', '--rate-limits', 'letsencrypt', '/d',
    ]);
    assert.deepEqual(c.cas, [
      {
        directoryUrl: PRIVATE,
        caFile: '/etc/ssl/private-roots.pem',
        keyType: 'ecdsa-p256',
        eab: { kid: 'kid-1', hmacKey: SECRET },
        profile: 'tlsserver',
        preferredChain: 'Private Root',
        rateLimits: { limits: LETS_ENCRYPT_LIMITS, source: "Let's Encrypt's (--rate-limits letsencrypt)" },
      },
      {
        directoryUrl: STAGING,
        caFile: '/etc/ssl/private-roots.pem',
        keyType: 'ecdsa-p256',
        eab: undefined,
        profile: undefined,
        preferredChain: undefined,
        rateLimits: { limits: LETS_ENCRYPT_STAGING_LIMITS, source: "Let's Encrypt staging's (the default for its directory)" },
      },
    ]);
    assert.deepEqual(singleCa(c), c.cas[0]);
    assert.equal(run(['--acme', `${STAGING},${PRIVATE}`, '--rate-limits', 'none', '/d']).cas[1]?.rateLimits.limits, undefined, "no budget for a CA other than Let's Encrypt");
  });

  it('takes --fallback-after in seconds, at least 1, from the flag or the variable', () => {
    assert.equal(run(['--fallback-after', '90', '/d']).fallbackAfterMs, 90_000);
    assert.equal(run(['--fallback-after=1', '/d']).fallbackAfterMs, 1_000);
    assert.equal(run(['/d'], { MARATHON_ACME_FALLBACK_AFTER: '600' }).fallbackAfterMs, 600_000);
    for (const bad of ['0', '0.5', '-1', 'soon']) {
      assert.match(refusal(['--fallback-after', bad, '/d']), /--fallback-after/, bad);
    }
    assert.match(refusal(['--fallback-after', '0.2', '/d']), /'0\.2' is too short; a CA must be given at least 1 second before names go to the next one/);
    assert.match(refusal(['/d'], { MARATHON_ACME_FALLBACK_AFTER: '0' }), /environment variable MARATHON_ACME_FALLBACK_AFTER: '0' is too short/);
  });

  it('shows the CAs in order with their settings, the MAC key masked, and the fallback in the start-up description', () => {
    const described = describeConfig(run(['--acme', `${PRIVATE},${STAGING}`, '--eab-kid', 'kid-1', '--eab-hmac-key', SECRET, '--fallback-after', '120', '/d']));
    assert.deepEqual(described['cas'], [
      { directory: PRIVATE, caFile: null, keyType: 'rsa2048', eabKid: 'kid-1', eabHmacKey: '***', profile: null, preferredChain: null, rateLimits: "none (the default for a CA other than Let's Encrypt)" },
      { directory: STAGING, caFile: null, keyType: 'rsa2048', eabKid: null, eabHmacKey: null, profile: null, preferredChain: null, rateLimits: "Let's Encrypt staging's (the default for its directory)" },
    ]);
    assert.equal(described['fallbackAfterSeconds'], 120);
    assert.doesNotMatch(JSON.stringify(described), new RegExp(SECRET));
  });
});

describe('--ca-config', () => {
  it('takes the CAs from the file, in order, with --key-type and --acme-ca-file for what an entry leaves out', async (t) => {
    const { file, dir } = await caConfig(t, [
      { directory: PRIVATE, eabKid: 'kid-1', eabHmacKey: SECRET, caFile: 'root.pem', keyType: 'ecdsa-p384', profile: 'short', preferredChain: 'Private Root', rateLimits: 'none' },
      { directory: STAGING },
    ]);
    const c = run(['--ca-config', file, '--key-type', 'rsa4096', '--acme-ca-file', '/etc/ssl/extra.pem', '/d']);
    assert.deepEqual(c.cas.map(({ rateLimits, ...ca }) => ({ ...ca, limits: rateLimits.limits })), [
      { directoryUrl: PRIVATE, caFile: join(dir, 'root.pem'), keyType: 'ecdsa-p384', eab: { kid: 'kid-1', hmacKey: SECRET }, profile: 'short', preferredChain: 'Private Root', limits: undefined },
      { directoryUrl: STAGING, caFile: '/etc/ssl/extra.pem', keyType: 'rsa4096', eab: undefined, profile: undefined, preferredChain: undefined, limits: LETS_ENCRYPT_STAGING_LIMITS },
    ]);
    assert.deepEqual(singleCa(c), c.cas[0], "the single-CA settings are the primary's, its key type included");
    assert.deepEqual(run(['/d'], { MARATHON_ACME_CA_CONFIG: file }).cas.map((ca) => ca.directoryUrl), [PRIVATE, STAGING], 'from the variable too');
  });

  it('refuses --acme with it, as a flag or a variable, naming both and the file', async (t) => {
    const { file } = await caConfig(t, [{ directory: PRIVATE }]);
    assert.equal(refusal(['--ca-config', file, '--acme', PRIVATE, '/d']), `marathon-acme: --acme does not go with --ca-config: the CAs are listed in ${file}, each with its "directory"`);
    assert.match(refusal(['--ca-config', file, '/d'], { MARATHON_ACME_ACME: LETS_ENCRYPT_DIRECTORY }), /^marathon-acme: MARATHON_ACME_ACME does not go with --ca-config/);
    assert.match(refusal(['/d'], { MARATHON_ACME_CA_CONFIG: file, MARATHON_ACME_ACME: PRIVATE }), /^marathon-acme: MARATHON_ACME_ACME does not go with MARATHON_ACME_CA_CONFIG/);
  });

  for (const [flag, variable, value, field] of [
    ['--eab-kid', 'MARATHON_ACME_EAB_KID', 'kid-1', 'eabKid'],
    ['--eab-hmac-key', 'MARATHON_ACME_EAB_HMAC_KEY', SECRET, 'eabHmacKey'],
    ['--acme-profile', 'MARATHON_ACME_ACME_PROFILE', 'tlsserver', 'profile'],
    ['--preferred-chain', 'MARATHON_ACME_PREFERRED_CHAIN', 'ISRG Root X1', 'preferredChain'],
    ['--rate-limits', 'MARATHON_ACME_RATE_LIMITS', 'none', 'rateLimits'],
  ] as const) {
    it(`refuses ${flag} with it, as a flag or a variable: it is set per CA in the file`, async (t) => {
      const { file } = await caConfig(t, [{ directory: PRIVATE }]);
      const byFlag = refusal(['--ca-config', file, flag, value, '/d']);
      assert.equal(byFlag, `marathon-acme: ${flag} does not go with --ca-config: set it per CA in ${file} ("${field}")`);
      assert.equal(refusal(['--ca-config', file, '/d'], { [variable]: value }), `marathon-acme: ${variable} does not go with --ca-config: set it per CA in ${file} ("${field}")`);
      assert.doesNotMatch(byFlag, new RegExp(SECRET));
    });
  }

  it('makes any mistake in the file a usage error naming the file, the entry and the field', async (t) => {
    const dir = await tempDir(t);
    assert.match(refusal(['--ca-config', join(dir, 'missing.json'), '/d']), /cannot read the CA configuration .*missing\.json: ENOENT/);
    const { file } = await caConfig(t, [{ directory: PRIVATE }, { directory: STAGING, caFile: 'gone.pem' }]);
    assert.match(refusal(['--ca-config', file, '/d']), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cas\\[1\\]\\.caFile: cannot read .*gone\\.pem`));
    const typo = await caConfig(t, [{ directory: PRIVATE, eab_hmac_key: SECRET }]);
    const text = refusal(['--ca-config', typo.file, '/d']);
    assert.match(text, /cas\[0\]: unknown field 'eab_hmac_key' \(did you mean 'eabHmacKey'\?\)/);
    assert.doesNotMatch(text, new RegExp(SECRET));
  });

  it('is in the help of the daemon and of renew, and plan and renew take it', async (t) => {
    const { file } = await caConfig(t, [{ directory: PRIVATE }, { directory: STAGING }]);
    const renew = parseCommandLine(['renew', '--all', '--ca-config', file, '--storage-dir', '/d'], {});
    assert.ok(renew.kind === 'renew', renew.kind === 'exit' ? renew.stderr : renew.kind);
    assert.equal(renew.config.cas.length, 2);
    const plan = parseCli(['plan', '--ca-config', file, '/d'], {});
    assert.ok(plan.kind === 'plan', plan.kind === 'exit' ? plan.stderr : plan.kind);
    assert.equal(plan.config.acmeDirectoryUrl, PRIVATE);
    for (const command of [[], ['renew']]) {
      let help = '';
      const write = t.mock.method(process.stdout, 'write', (chunk: string | Uint8Array) => {
        help += String(chunk);
        return true;
      });
      try {
        assert.equal(parseCommandLine([...command, '--help'], {}).kind, 'exit');
      } finally {
        write.mock.restore();
      }
      assert.match(help, /--ca-config <file>/, command.join(' '));
    }
  });
});

describe('the commands that work on one CA', () => {
  const STORAGE = { MARATHON_ACME_STORAGE_DIR: '/var/lib/marathon-acme' };

  it('refuse an --acme list, from the flag or the variable', () => {
    assert.equal(
      refusal(['account', 'rollover', '--acme', `${PRIVATE},${STAGING}`], STORAGE, 'marathon-acme account rollover'),
      "marathon-acme account rollover: --acme lists 2 CAs, but this command works on one CA's account: give that CA's directory alone with --acme",
    );
    assert.match(refusal(['revoke', 'a.example'], { ...STORAGE, MARATHON_ACME_ACME: `${PRIVATE},${STAGING}` }, 'marathon-acme revoke'), /^marathon-acme revoke: MARATHON_ACME_ACME lists 2 CAs, but this command works on one CA's account/);
  });

  it('refuse a --ca-config of several CAs, and take one of a single CA', async (t) => {
    const several = await caConfig(t, [{ directory: PRIVATE }, { directory: STAGING }]);
    assert.match(refusal(['revoke', 'a.example', '--ca-config', several.file], STORAGE, 'marathon-acme revoke'), /^marathon-acme revoke: --ca-config lists 2 CAs, but this command works on one CA's account/);
    const one = await caConfig(t, [{ directory: PRIVATE, caFile: 'root.pem' }]);
    const rollover = parseCommandLine(['account', 'rollover', '--ca-config', one.file], STORAGE);
    assert.ok(rollover.kind === 'account-rollover', rollover.kind === 'exit' ? rollover.stderr : rollover.kind);
    assert.equal(rollover.config.acmeDirectoryUrl, PRIVATE);
    assert.equal(rollover.config.acmeCaFile, join(one.dir, 'root.pem'));
  });
});

describe("the tests' configuration (test/support/config.ts)", () => {
  it("makes one CA of the single-CA settings, as the CLI does, or takes a test's own list", () => {
    const c = testConfig({ storageDir: '/d', acmeDirectoryUrl: PRIVATE, keyType: 'ecdsa-p256' });
    assert.deepEqual(c.cas, [singleCa(c)]);
    assert.equal(c.cas[0]?.rateLimits.limits, undefined);
    assert.equal(c.fallbackAfterMs, 3_600_000);
    const cas = run(['--acme', `${PRIVATE},${STAGING}`, '/d']).cas;
    assert.deepEqual(testConfig({ storageDir: '/d', cas }).cas, cas);
  });
});
