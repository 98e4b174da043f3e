import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { IssueError } from '../../src/acme/issuer.js';
import type { BudgetLimits } from '../../src/acme/rate-budget.js';
import { CertStore } from '../../src/certs/store.js';
import { silentLogger } from '../../src/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { CertificateManager } from '../../src/sync/certificates.js';
import { ManualClock } from '../support/manual-clock.js';
import { FakeCa } from '../support/fake-ca.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const PRIMARY = 'https://primary.example.test/directory';
const SECOND = 'https://second.example.test/directory';

const answer = (status: number, type: string | undefined, retryAfterMs?: number) =>
  new IssueError(['x'], 'creating the order', new Error(`HTTP ${status}`), { problem: { type, detail: `HTTP ${status}`, status }, retryAfterMs });

async function setup(t: TestContext, primaryLimits: BudgetLimits | 'none' = 'none') {
  const root = await mkdtemp(join(tmpdir(), 'ma-fallback-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const clock = new ManualClock(Date.parse('2026-12-06T12:00:00Z'));
  const store = new CertStore(root);
  await store.init(new Date(clock.now()));
  const primary = new FakeCa(90 * DAY, () => clock.now(), PRIMARY);
  const second = new FakeCa(90 * DAY, () => clock.now(), SECOND);
  const stateFile = new StateFile(store, silentLogger());
  const open = async () => {
    const state = await stateFile.load(new Date(clock.now()));
    const manager = new CertificateManager({
      store, ca: primary, fallbacks: [{ ca: second, limits: undefined }], fallbackAfterMs: HOUR,
      clock, logger: silentLogger(), maxConcurrentOrders: 2, state, stateFile, budgetLimits: primaryLimits,
    });
    await manager.refresh();
    return { manager, state };
  };
  return { clock, primary, second, open, ...(await open()) };
}

const want = (...names: string[]) => names.map((name) => ({ name, appId: `/${name}`, portIndex: 0 }));

describe('ordering from the next CA', () => {
  it('moves names to the next CA once the primary has failed with 5xx for --fallback-after, and back after it answers a test order', async (t) => {
    const { clock, primary, second, manager, state, open } = await setup(t);
    primary.failWithError = answer(503, undefined);
    assert.deepEqual((await manager.issueMissing(want('a.example'))).failed, ['a.example']);
    assert.equal(state.cas.get(PRIMARY)?.health.downSince, clock.now());
    const first = state.certificates.get('a.example')?.failure;
    assert.deepEqual([first?.directory, first?.kind], [PRIMARY, 'unavailable']);
    const outageStart = clock.now();
    // Retried at the primary with the usual backoff (1, 10 min...), but never later than when the
    // primary has failed for --fallback-after: the attempt then goes to the next CA.
    const movedYet = (): boolean => second.calls.length > 0;
    for (let i = 0; i < 6 && !movedYet(); i++) {
      const next = state.certificates.get('a.example')?.failure?.nextAttemptAt ?? clock.now();
      assert.ok(next <= outageStart + HOUR, 'never waits past the moment the primary counts as down');
      await clock.advance(next - clock.now());
      await manager.issueMissing(want('a.example'));
      if (!movedYet()) assert.ok(clock.now() < outageStart + HOUR, 'the primary is not asked once it counts as down');
    }
    assert.equal(clock.now(), outageStart + HOUR);
    assert.deepEqual(second.calls, [['a.example']]);
    assert.equal(state.certificates.get('a.example')?.issuedBy?.directory, SECOND);
    assert.equal(manager.certificates()[0]?.ca, SECOND);

    // Remembered across a restart: the outage still counts, so a new name goes straight to the next CA.
    const restarted = await open();
    assert.equal(restarted.state.cas.get(PRIMARY)?.health.downSince, state.cas.get(PRIMARY)?.health.downSince);
    const callsBefore = primary.calls.length;
    await restarted.manager.issueMissing(want('b.example'));
    assert.equal(primary.calls.length, callsBefore, 'no order to a CA counted as down before its test is due');
    assert.equal(restarted.state.certificates.get('b.example')?.issuedBy?.directory, SECOND);

    // The primary is back; the test order after another --fallback-after finds out, and renewals return to it.
    primary.failWithError = undefined;
    await clock.advance(HOUR + MINUTE);
    const [renewed] = await restarted.manager.renewNow(['a.example']);
    assert.equal(renewed?.outcome, 'renewed');
    assert.equal(restarted.state.certificates.get('a.example')?.issuedBy?.directory, PRIMARY);
    assert.equal(restarted.state.cas.get(PRIMARY)?.health.downSince, undefined);
    await restarted.manager.renewNow(['b.example']);
    assert.equal(restarted.state.certificates.get('b.example')?.issuedBy?.directory, PRIMARY);
  });

  it('orders from the next CA at once when the primary rate limits a name for longer than --fallback-after', async (t) => {
    const { clock, primary, second, manager, state } = await setup(t);
    primary.failWithError = answer(429, 'rateLimited', DAY);
    await manager.issueMissing(want('a.example'));
    const failure = state.certificates.get('a.example')?.failure;
    assert.ok(failure !== undefined);
    assert.equal(failure.kind, 'rate-limited');
    assert.ok(failure.nextAttemptAt <= clock.now(), "the primary's Retry-After does not hold the name");
    assert.equal(state.cas.get(PRIMARY)?.health.downSince, undefined, 'a rate limit is an answer: the CA is up');
    assert.deepEqual(manager.nextRetries().issueAt, failure.nextAttemptAt);
    await manager.issueMissing(want('a.example'));
    assert.deepEqual(second.calls, [['a.example']]);
    assert.equal(state.certificates.get('a.example')?.issuedBy?.directory, SECOND);
  });

  it('never moves a name whose validation failed: the next CA would fail the same way', async (t) => {
    const { clock, primary, second, manager, state } = await setup(t);
    primary.failWithError = answer(403, 'unauthorized');
    for (let i = 0; i < 3; i++) {
      await manager.issueMissing(want('a.example'));
      await clock.advance((state.certificates.get('a.example')?.failure?.nextAttemptAt ?? clock.now()) - clock.now());
    }
    assert.equal(primary.calls.length, 3);
    assert.equal(second.calls.length, 0);
  });

  it("orders from the next CA when the primary's own rate budget is spent for longer than --fallback-after", async (t) => {
    const tiny: BudgetLimits = { ordersPerWindow: 1, orderWindowMs: 3 * HOUR, certsPerDomainPerWindow: 50, domainWindowMs: 7 * DAY };
    const { primary, second, manager, state } = await setup(t, tiny);
    await manager.issueMissing(want('a.example', 'b.example'));
    assert.equal(primary.calls.length, 1, 'the budget allows one order at the primary');
    const refused = primary.calls[0]?.[0] === 'a.example' ? 'b.example' : 'a.example';
    assert.deepEqual([state.certificates.get(refused)?.failure?.lastError.type, state.certificates.get(refused)?.failure?.kind], ['budget', 'rate-limited']);
    await manager.issueMissing(want('a.example', 'b.example'));
    assert.equal(second.calls.length, 1);
    assert.equal(state.cas.get(PRIMARY)?.budget.orders.length, 1, 'each CA keeps its own ledger');
  });
});
