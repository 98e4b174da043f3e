import { parseCli } from '../../src/cli.js';
import type { Config } from '../../src/config.js';
import { resolveRateLimits } from '../../src/acme/rate-limits.js';

/**
 * A daemon Config for tests: the CLI's own defaults (so tests follow them when they change), with
 * short timeouts and no preflight (test names do not resolve through the system resolver; the
 * preflight tests turn it on with their own resolver), then the test's settings on top, and the rate
 * budget the CLI would give the test's CA.
 */
export function testConfig(overrides: Partial<Config> & Pick<Config, 'storageDir'>): Config {
  const parsed = parseCli([overrides.storageDir], {});
  if (parsed.kind === 'exit') throw new Error(`default configuration does not parse: ${parsed.stderr}`);
  // The budget follows the CA as the CLI decides it, so a test's own --acme gets that CA's default.
  const rateLimits = overrides.rateLimits ?? resolveRateLimits(undefined, overrides.acmeDirectoryUrl ?? parsed.config.acmeDirectoryUrl);
  const merged: Config = { ...parsed.config, marathonTimeoutMs: 2_000, logLevel: 'info', preflight: 'off', deliveryCheckPort: 0, ...overrides, rateLimits };
  // One CA unless the test lists several: the primary made of the single-CA settings, as the CLI makes it.
  const cas = overrides.cas ?? [
    {
      directoryUrl: merged.acmeDirectoryUrl,
      caFile: merged.acmeCaFile,
      keyType: merged.keyType,
      eab: merged.eab,
      profile: merged.acmeProfile,
      preferredChain: merged.preferredChain,
      rateLimits,
    },
  ];
  return { ...merged, cas };
}
