import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { emptyBudget, LETS_ENCRYPT_LIMITS, LETS_ENCRYPT_STAGING_LIMITS, recordOrder } from '../../src/acme/rate-budget.js';
import { parseRateLimitsOption, resolveRateLimits } from '../../src/acme/rate-limits.js';
import { parseCli } from '../../src/cli.js';
import { ConfigError } from '../../src/config.js';
import { adoptCaStates, emptyCaState } from '../../src/state/ca-state.js';
import { emptyState, parseState, serializeState } from '../../src/state/state.js';
import { budgetSummary, budgetView, caStatusList } from '../../src/status/budget-view.js';

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
    const now = Date.parse('2026-12-06T12:00:00Z');
    const state = emptyState();
    const ledger = recordOrder(recordOrder(emptyBudget(), ['a.example.com', 'b.example.com'], now - 60_000, LETS_ENCRYPT_LIMITS), ['c.example.org'], now - 60_000, LETS_ENCRYPT_LIMITS);
    state.cas.set(PRODUCTION, { ...emptyCaState(), rateLimits: resolveRateLimits(undefined, PRODUCTION), budget: ledger });
    const back = parseState(serializeState(state));
    assert.deepEqual(back.problems, []);
    assert.deepEqual(back.state.cas.get(PRODUCTION)?.rateLimits, resolveRateLimits(undefined, PRODUCTION));
    const [listed] = caStatusList(back.state.cas, now);
    const view = listed?.rateBudget;
    assert.ok(view?.limits != null, 'limits to show');
    assert.deepEqual(view.limits.newOrders, { used: 2, limit: 270, windowHours: 3 });
    assert.deepEqual(view.limits.certificatesPerDomain.fullest, [{ domain: 'example.com', used: 1 }, { domain: 'example.org', used: 1 }]);
    assert.equal(
      budgetSummary(view),
      "rate budget (Let's Encrypt's (the default for its directory)): 2 of 270 new orders in 3 h; fullest registered domain example.com: 1 of 45 certificates in 7 days",
    );
    const none = emptyState();
    none.cas.set(PRODUCTION, { ...emptyCaState(), rateLimits: resolveRateLimits(parseRateLimitsOption('none'), PRODUCTION) });
    const noneBack = parseState(serializeState(none)).state;
    assert.deepEqual(caStatusList(noneBack.cas, now)[0]?.rateBudget, { source: 'none (--rate-limits none)', limits: null });
    assert.equal(budgetView(undefined, emptyBudget(), now), null, 'no limits recorded yet: nothing to show');
    assert.deepEqual(parseState('{"certificates": {}, "rateLimits": {"source": 3}}').problems, ['"rateLimits" is not understood']);
  });

  it('keeps a ledger per CA, and gives the primary the one ledger of a file from before', () => {
    const now = Date.parse('2026-12-06T12:00:00Z');
    const secondary = 'https://acme.other.example/directory';
    const state = emptyState();
    state.cas.set(PRODUCTION, { ...emptyCaState(), rateLimits: resolveRateLimits(undefined, PRODUCTION), budget: recordOrder(emptyBudget(), ['a.example.com'], now, LETS_ENCRYPT_LIMITS) });
    state.cas.set(secondary, { ...emptyCaState(), rateLimits: resolveRateLimits(undefined, secondary), health: { downSince: now - 5_000, lastFailureAt: now } });
    const text = serializeState(state);
    const raw = JSON.parse(text) as { budget: { orders: unknown[] }; cas: Array<{ directory: string }> };
    assert.equal(raw.budget.orders.length, 1, "the primary's ledger also where earlier versions read it, for a rollback");
    assert.deepEqual(raw.cas.map((c) => c.directory), [PRODUCTION, secondary]);
    const back = parseState(text).state;
    assert.deepEqual(back.cas.get(secondary)?.health, { downSince: now - 5_000, lastFailureAt: now });
    assert.deepEqual(caStatusList(back.cas, now).map((c) => [c.primary, c.unavailableSince]), [[true, null], [false, new Date(now - 5_000).toISOString()]]);

    // A file of an earlier version: one ledger, adopted by whichever CA is the primary now.
    const legacy = parseState(JSON.stringify({ certificates: {}, budget: { orders: [new Date(now).getTime()], certs: {} }, rateLimits: { source: 'old', limits: null } }));
    assert.deepEqual(legacy.problems, []);
    const adopted = adoptCaStates(legacy.state.cas, [{ directoryUrl: secondary, rateLimits: resolveRateLimits(undefined, secondary) }, { directoryUrl: PRODUCTION, rateLimits: resolveRateLimits(undefined, PRODUCTION) }]);
    assert.deepEqual([...adopted.keys()], [secondary, PRODUCTION]);
    assert.equal(adopted.get(secondary)?.budget.orders.length, 1);
    assert.equal(adopted.get(PRODUCTION)?.budget.orders.length, 0);
    assert.equal(adopted.get(secondary)?.rateLimits?.source, "none (the default for a CA other than Let's Encrypt)", 'the limits in force now, not the ones remembered');
  });
});
