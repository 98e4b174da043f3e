import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { emptyBudget, LETS_ENCRYPT_LIMITS, LETS_ENCRYPT_STAGING_LIMITS, recordOrder } from '../../src/acme/rate-budget.js';
import { parseRateLimitsOption, resolveRateLimits } from '../../src/acme/rate-limits.js';
import { parseCli } from '../../src/cli.js';
import { ConfigError } from '../../src/config.js';
import { emptyState, parseState, serializeState } from '../../src/state/state.js';
import { budgetSummary, budgetView } from '../../src/status/budget-view.js';

const PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
const STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
const PEBBLE = 'https://127.0.0.1:14000/dir';

async function limitsFile(t: TestContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-limits-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'limits.json');
  await writeFile(path, text);
  return path;
}

describe('--rate-limits', () => {
  it("gives Let's Encrypt's budget to its own directories only, unless told otherwise", () => {
    assert.equal(resolveRateLimits(undefined, PRODUCTION).limits, LETS_ENCRYPT_LIMITS);
    assert.equal(resolveRateLimits(undefined, STAGING).limits, LETS_ENCRYPT_STAGING_LIMITS);
    assert.equal(resolveRateLimits(undefined, 'https://ACME-V02.api.letsencrypt.org/directory').limits, LETS_ENCRYPT_LIMITS, 'the host in any case');
    const pebble = resolveRateLimits(undefined, PEBBLE);
    assert.equal(pebble.limits, undefined);
    assert.match(pebble.source, /none \(the default for a CA other than Let's Encrypt\)/);
    assert.equal(resolveRateLimits(parseRateLimitsOption('letsencrypt'), PEBBLE).limits, LETS_ENCRYPT_LIMITS);
    assert.equal(resolveRateLimits(parseRateLimitsOption('letsencrypt'), STAGING).limits, LETS_ENCRYPT_STAGING_LIMITS);
    assert.equal(resolveRateLimits(parseRateLimitsOption('none'), PRODUCTION).limits, undefined);
  });

  it('reads a file of limits as given, and refuses a file it cannot use with a message that says why', async (t) => {
    const good = await limitsFile(t, '{"ordersPerWindow": 300, "orderWindowSeconds": 10800, "certificatesPerDomain": 50, "domainWindowSeconds": 604800}');
    const option = parseRateLimitsOption(good);
    assert.deepEqual(resolveRateLimits(option, PRODUCTION), {
      limits: { ordersPerWindow: 300, orderWindowMs: 10_800_000, certsPerDomainPerWindow: 50, domainWindowMs: 604_800_000 },
      source: `the file ${good}`,
    });
    const refused = async (text: string, message: RegExp): Promise<void> => {
      const path = await limitsFile(t, text);
      assert.throws(() => parseRateLimitsOption(path), (err: unknown) => err instanceof ConfigError && message.test(err.message), text);
    };
    await refused('{"ordersPerWindow": 300', /is not JSON/);
    await refused('[]', /must hold a JSON object with ordersPerWindow, orderWindowSeconds, certificatesPerDomain, domainWindowSeconds/);
    await refused('{"ordersPerWindow": 300, "orderWindowSeconds": 10800, "certificatesPerDomain": 50}', /'domainWindowSeconds' is missing/);
    await refused('{"ordersPerWindow": 0, "orderWindowSeconds": 10800, "certificatesPerDomain": 50, "domainWindowSeconds": 1}', /'ordersPerWindow' must be a whole number of at least 1, not 0/);
    await refused('{"ordersPerWindow": 1, "orderWindowSeconds": 1.5, "certificatesPerDomain": 50, "domainWindowSeconds": 1}', /'orderWindowSeconds' must be a whole number/);
    await refused('{"ordersPerWindow": 1, "orderWindowSeconds": 1, "certificatesPerDomain": 5, "domainWindowSeconds": 1, "burst": 3}', /unknown field 'burst'/);
    assert.throws(() => parseRateLimitsOption('/nonexistent/limits.json'), /cannot read the rate limits file \/nonexistent\/limits\.json/);
  });

  it('reaches the configuration through the CLI and the environment, and a bad value is a usage error', () => {
    const parsed = parseCli(['--acme', PEBBLE, '--rate-limits', 'letsencrypt', '/srv/acme'], {});
    assert.ok(parsed.kind === 'run');
    assert.equal(parsed.config.rateLimits.limits, LETS_ENCRYPT_LIMITS);
    const fromEnv = parseCli(['/srv/acme'], { MARATHON_ACME_RATE_LIMITS: 'none' });
    assert.ok(fromEnv.kind === 'run');
    assert.equal(fromEnv.config.rateLimits.limits, undefined);
    const bad = parseCli(['--rate-limits', '/nonexistent/limits.json', '/srv/acme'], {});
    assert.ok(bad.kind === 'exit');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--rate-limits .*cannot read the rate limits file/);
  });

  it('keeps the limits in state.json for status, which shows what is left of each', () => {
    const state = emptyState();
    const now = Date.parse('2026-12-06T12:00:00Z');
    state.rateLimits = resolveRateLimits(undefined, PRODUCTION);
    state.budget = recordOrder(emptyBudget(), ['a.example.com', 'b.example.com'], now - 60_000, LETS_ENCRYPT_LIMITS);
    state.budget = recordOrder(state.budget, ['c.example.org'], now - 60_000, LETS_ENCRYPT_LIMITS);
    const back = parseState(serializeState(state));
    assert.deepEqual(back.problems, []);
    assert.deepEqual(back.state.rateLimits, state.rateLimits);
    const view = budgetView(back.state.rateLimits, back.state.budget, now);
    assert.ok(view?.limits != null, 'limits to show');
    assert.deepEqual(view.limits.newOrders, { used: 2, limit: 270, windowHours: 3 });
    assert.deepEqual(view.limits.certificatesPerDomain.fullest, [{ domain: 'example.com', used: 1 }, { domain: 'example.org', used: 1 }]);
    assert.equal(
      budgetSummary(view),
      "rate budget (Let's Encrypt's (the default for its directory)): 2 of 270 new orders in 3 h; fullest registered domain example.com: 1 of 45 certificates in 7 days",
    );
    const none = emptyState();
    none.rateLimits = resolveRateLimits(parseRateLimitsOption('none'), PRODUCTION);
    const noneBack = parseState(serializeState(none)).state;
    assert.deepEqual(budgetView(noneBack.rateLimits, noneBack.budget, now), { source: 'none (--rate-limits none)', limits: null });
    assert.equal(budgetView(undefined, emptyBudget(), now), null, 'no limits recorded yet: nothing to show');
    assert.deepEqual(parseState('{"certificates": {}, "rateLimits": {"source": 3}}').problems, ['"rateLimits" is not understood']);
  });
});
