import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CertStore } from '../../src/certs/store.js';
import { silentLogger } from '../../src/log.js';
import { StateFile } from '../../src/state/state-file.js';
import { emptyState } from '../../src/state/state.js';
import { CertificateManager } from '../../src/sync/certificates.js';
import { OffsetClock } from '../../src/util/clock.js';
import { FakeCa } from '../support/fake-ca.js';

const DAY = 86_400_000;

async function setup(t: TestContext) {
  const root = await mkdtemp(join(tmpdir(), 'ma-forced-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const clock = new OffsetClock();
  const store = new CertStore(root);
  await store.init(new Date(clock.now()));
  const ca = new FakeCa(90 * DAY, () => clock.now());
  const state = emptyState();
  const manager = new CertificateManager({ store, ca, clock, logger: silentLogger(), maxConcurrentOrders: 4, state, stateFile: new StateFile(store, silentLogger()) });
  await manager.refresh();
  await manager.issueMissing(['a.example', 'b.example'].map((name) => ({ name, appId: `/${name}`, portIndex: 0 })));
  ca.calls.length = 0;
  const serial = async (name: string) => new X509Certificate(await readFile(join(root, 'certs', `${name}.pem`), 'utf8')).serialNumber;
  return { clock, ca, state, manager, serial };
}

describe('forced renewal (marathon-acme renew)', () => {
  it('renews a certificate that is nowhere near due, and names the ones that are not stored', async (t) => {
    const { ca, manager, serial } = await setup(t);
    const before = await serial('a.example');
    assert.deepEqual((await manager.renewDue()).written, [], 'nothing is due');
    const outcomes = await manager.renewNow(['a.example', 'missing.example']);
    assert.deepEqual(outcomes.map((o) => [o.name, o.outcome]), [['a.example', 'renewed'], ['missing.example', 'not-managed']]);
    assert.deepEqual(ca.calls, [['a.example']]);
    assert.notEqual(await serial('a.example'), before);
  });

  it('with all renews every stored certificate', async (t) => {
    const { ca, manager } = await setup(t);
    const outcomes = await manager.renewNow('all');
    assert.deepEqual(outcomes.map((o) => o.outcome), ['renewed', 'renewed']);
    assert.deepEqual(ca.calls.map((c) => c[0]).sort(), ['a.example', 'b.example']);
  });

  it('goes past its own backoff after a failure, and a success clears the failure', async (t) => {
    const { ca, manager, state } = await setup(t);
    ca.failWith = 'Timeout during connect';
    const [failed] = await manager.renewNow(['a.example']);
    assert.ok(failed?.outcome === 'failed');
    assert.match(failed.problem.detail, /Timeout during connect/);
    assert.ok((state.certificates.get('a.example')?.failure?.nextAttemptAt ?? 0) > Date.now(), 'a backoff is running');
    ca.failWith = undefined;
    assert.deepEqual((await manager.renewNow(['a.example'])).map((o) => o.outcome), ['renewed']);
    assert.equal(ca.calls.length, 2);
    assert.equal(state.certificates.get('a.example')?.failure, undefined);
  });

  it('does not send while the CA has asked to wait (rate limited)', async (t) => {
    const { ca, manager, state, clock } = await setup(t);
    const until = clock.now() + 3 * 3_600_000;
    state.certificates.set('a.example', {
      ...state.certificates.get('a.example'),
      failure: { failures: 1, lastError: { type: 'rateLimited', detail: 'too many certificates', status: 429 }, nextAttemptAt: until, lastFailureAt: clock.now() },
    });
    const [outcome] = await manager.renewNow(['a.example']);
    assert.ok(outcome?.outcome === 'failed');
    assert.match(outcome.problem.detail, /^not sent: the CA asked to wait until .* \(too many certificates\)$/);
    assert.equal(outcome.retryAt, until);
    assert.equal(ca.calls.length, 0);
    clock.advance(3 * 3_600_000 + 1);
    assert.deepEqual((await manager.renewNow(['a.example'])).map((o) => o.outcome), ['renewed'], 'sent once the wait is over');
  });

  it('never orders a name twice at once: a second request joins the order in flight', async (t) => {
    const { ca, manager } = await setup(t);
    ca.hold();
    const first = manager.renewNow(['a.example']);
    const second = manager.renewNow(['a.example']);
    await new Promise((r) => setImmediate(r));
    ca.open();
    const [one, two] = await Promise.all([first, second]);
    assert.equal(ca.calls.length, 1);
    assert.equal(one[0]?.outcome, 'renewed');
    assert.equal(two[0]?.outcome, 'renewed');
  });
});
