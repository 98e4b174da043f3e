import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { formatBundle } from '../../src/certs/bundle.js';
import { CertStore } from '../../src/certs/store.js';
import { silentLogger } from '../../src/log.js';
import { CertificateManager } from '../../src/sync/certificates.js';
import { OffsetClock } from '../../src/util/clock.js';
import { StateFile } from '../../src/state/state-file.js';
import { emptyState, parseState, serializeState } from '../../src/state/state.js';
import { FakeCa } from '../support/fake-ca.js';
import type { BudgetLimits } from '../../src/acme/rate-budget.js';

const DAY = 86_400_000;
const want = (...names: string[]) => names.map((name, i) => ({ name, appId: `/app${i}`, portIndex: 0 }));

async function setup(t: TestContext, maxConcurrentOrders = 2, budgetLimits?: BudgetLimits | 'none', storeNow?: () => number) {
  const root = await mkdtemp(join(tmpdir(), 'ma-manager-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const clock = new OffsetClock();
  const store = new CertStore(root, { now: storeNow });
  await store.init(new Date(clock.now()));
  const ca = new FakeCa(90 * DAY, () => clock.now());
  const state = emptyState();
  const manager = new CertificateManager({
    store, ca, clock, logger: silentLogger(), maxConcurrentOrders, state, stateFile: new StateFile(store, silentLogger()), budgetLimits,
  });
  await manager.refresh();
  return { root, clock, store, ca, manager, state };
}

const sanWant = (appId: string, ...names: string[]) => ({ name: names[0] ?? '', appId, portIndex: 0, sans: names });

describe('certificate manager', () => {
  it('orders one certificate covering every name of a port in san mode, and re-orders when the set changes', async (t) => {
    const { root, ca, manager } = await setup(t);
    assert.deepEqual((await manager.issueMissing([sanWant('/shop', 'shop.example', 'www.shop.example', 'm.shop.example')])).written, ['shop.example']);
    assert.deepEqual(ca.calls, [['shop.example', 'www.shop.example', 'm.shop.example']]);
    assert.deepEqual(manager.managed.get('shop.example')?.names.slice().sort(), ['m.shop.example', 'shop.example', 'www.shop.example']);
    await manager.issueMissing([sanWant('/shop', 'shop.example', 'www.shop.example', 'm.shop.example')]);
    assert.equal(ca.calls.length, 1, 'same set, nothing to do');
    await manager.issueMissing([sanWant('/shop', 'shop.example', 'www.shop.example')]);
    assert.deepEqual(ca.calls[1], ['shop.example', 'www.shop.example'], 'a removed name means a new certificate');
    assert.deepEqual(await readdir(join(root, 'certs')), ['shop.example.pem']);
  });

  it("retires a port's old certificate when its label now names another primary", async (t) => {
    const { root, manager } = await setup(t);
    await manager.issueMissing([sanWant('/blog', 'old.example', 'www.old.example')]);
    await manager.issueMissing([sanWant('/blog', 'new.example', 'www.new.example')]);
    assert.deepEqual(await readdir(join(root, 'certs')), ['new.example.pem']);
    assert.deepEqual(await readdir(join(root, 'retired-certs')), ['old.example.pem']);
    assert.equal(manager.managed.has('old.example'), false);
  });

  it("keeps a port's other certificates that are still wanted (separate mode)", async (t) => {
    const { root, manager } = await setup(t);
    const port = (name: string) => ({ name, appId: '/multi', portIndex: 0 });
    await manager.issueMissing([port('a.example'), port('b.example')]);
    await manager.issueMissing([port('a.example'), port('b.example'), port('c.example')]);
    assert.deepEqual((await readdir(join(root, 'certs'))).sort(), ['a.example.pem', 'b.example.pem', 'c.example.pem']);
  });

  it('orders each missing name once, never more than the concurrency bound at a time', async (t) => {
    const { root, ca, manager } = await setup(t, 2);
    const result = await manager.issueMissing(want('a.example', 'b.example', 'c.example', 'd.example', 'e.example', 'a.example'));
    assert.deepEqual(result.written.sort(), ['a.example', 'b.example', 'c.example', 'd.example', 'e.example']);
    assert.equal(ca.calls.length, 5);
    assert.equal(ca.peak, 2);
    assert.equal((await readdir(join(root, 'certs'))).length, 5);
    const again = await manager.issueMissing(want('a.example', 'b.example'));
    assert.deepEqual(again, { written: [], failed: [] });
    assert.equal(ca.calls.length, 5, 'stored names are not ordered again');
  });

  it('never orders the same name twice at once, even from a sync and a renewal together', async (t) => {
    const { ca, manager } = await setup(t, 4);
    ca.hold();
    const first = manager.issueMissing(want('same.example'));
    const second = manager.issueMissing(want('same.example'));
    await new Promise((r) => setImmediate(r));
    ca.open();
    const [r1, r2] = await Promise.all([first, second]);
    assert.equal(ca.calls.length, 1);
    assert.deepEqual(r1.written, ['same.example']);
    assert.deepEqual(r2.written, ['same.example']);
  });

  it('backs off a failing name (1 min, then 10 min) and succeeds once the CA does', async (t) => {
    const { ca, clock, manager } = await setup(t);
    ca.failWith = 'urn:ietf:params:acme:error:connection: no route';
    assert.deepEqual((await manager.issueMissing(want('flaky.example'))).failed, ['flaky.example']);
    assert.equal(manager.failed.get('flaky.example')?.failures, 1);
    assert.deepEqual(await manager.issueMissing(want('flaky.example')), { written: [], failed: [] }, 'held back during the backoff');
    clock.advance(61_000);
    assert.deepEqual((await manager.issueMissing(want('flaky.example'))).failed, ['flaky.example']);
    clock.advance(61_000);
    assert.equal(ca.calls.length, 2, 'the second backoff is ten minutes');
    await manager.issueMissing(want('flaky.example'));
    assert.equal(ca.calls.length, 2);
    clock.advance(10 * 60_000);
    ca.failWith = undefined;
    assert.deepEqual((await manager.issueMissing(want('flaky.example'))).written, ['flaky.example']);
    assert.equal(manager.failed.has('flaky.example'), false, 'success clears the failure memory');
  });

  it('renews only certificates with less than a third of their lifetime left', async (t) => {
    const { ca, clock, manager } = await setup(t);
    await manager.issueMissing(want('old.example'));
    clock.advance(30 * DAY);
    await manager.issueMissing(want('old.example', 'new.example'));
    assert.deepEqual(await manager.renewDue(), { written: [], failed: [] });
    clock.advance(30 * DAY + 60_000); // old.example is now 60 days + 1 minute into its 90
    const renewed = await manager.renewDue();
    assert.deepEqual(renewed.written, ['old.example']);
    assert.deepEqual(ca.calls.at(-1), ['old.example']);
    assert.ok((manager.managed.get('old.example')?.notAfter ?? 0) > clock.now() + 89 * DAY);
  });

  it('moves an unusable file out of certs/ and orders its name again', async (t) => {
    const { root, manager, ca } = await setup(t);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(root, 'certs', 'broken.example.pem'), '-----BEGIN CERTIFICATE-----\ntruncated');
    await manager.refresh();
    assert.deepEqual(await readdir(join(root, 'certs')), []);
    assert.equal((await readdir(join(root, 'corrupt-certs'))).length, 1);
    assert.deepEqual((await manager.issueMissing(want('broken.example'))).written, ['broken.example']);
    assert.equal(ca.calls.length, 1);
  });
});

describe('retirement', () => {
  const GRACE = 7 * DAY;

  it('retires a certificate only after no app wanted it for the whole grace period, and stops renewing it', async (t) => {
    const { root, clock, manager, ca } = await setup(t);
    await manager.issueMissing(want('gone.example', 'kept.example'));
    assert.deepEqual(await manager.retireUnwanted(want('gone.example', 'kept.example'), GRACE), []);
    clock.advance(DAY);
    // The app list suddenly lacks gone.example (or everything): nothing moves before the grace is over.
    assert.deepEqual(await manager.retireUnwanted([], GRACE), []);
    assert.deepEqual(await manager.retireUnwanted(want('kept.example'), GRACE), []);
    clock.advance(GRACE - DAY - 60_000);
    assert.deepEqual(await manager.retireUnwanted(want('kept.example'), GRACE), []);
    clock.advance(60_000);
    assert.deepEqual(await manager.retireUnwanted(want('kept.example'), GRACE), ['gone.example']);
    assert.deepEqual(await readdir(join(root, 'certs')), ['kept.example.pem']);
    assert.deepEqual(await readdir(join(root, 'retired-certs')), ['gone.example.pem']);
    clock.advance(80 * DAY);
    const calls = ca.calls.length;
    await manager.renewDue();
    assert.deepEqual(ca.calls.slice(calls), [['kept.example']], 'the retired certificate is not renewed');
  });

  it('keeps counting the grace period across a restart', async (t) => {
    const { root, store, clock, manager } = await setup(t);
    await manager.issueMissing(want('restart.example'));
    await manager.retireUnwanted(want('restart.example'), GRACE);
    clock.advance(4 * DAY);
    await manager.retireUnwanted([], GRACE);
    const stateFile = new StateFile(store, silentLogger());
    const restarted = new CertificateManager({
      store, ca: new FakeCa(90 * DAY, () => clock.now()), clock, logger: silentLogger(), maxConcurrentOrders: 1,
      state: await stateFile.load(new Date(clock.now())), stateFile,
    });
    await restarted.refresh();
    clock.advance(2 * DAY);
    assert.deepEqual(await restarted.retireUnwanted([], GRACE), []);
    clock.advance(DAY);
    assert.deepEqual(await restarted.retireUnwanted([], GRACE), ['restart.example'], 'seven days after it was last wanted, not after the restart');
    assert.deepEqual(await readdir(join(root, 'retired-certs')), ['restart.example.pem']);
  });

  it('starts the grace period at the first sync for adopted certificates with no history', async (t) => {
    const { root, clock, manager } = await setup(t);
    await manager.issueMissing(want('adopted.example'));
    const { rm: remove } = await import('node:fs/promises');
    await remove(join(root, 'state.json'), { force: true });
    const fresh = new CertificateManager({
      store: new CertStore(root), ca: new FakeCa(90 * DAY, () => clock.now()), clock, logger: silentLogger(), maxConcurrentOrders: 1,
      state: emptyState(), stateFile: new StateFile(new CertStore(root), silentLogger()),
    });
    await fresh.refresh();
    clock.advance(30 * DAY);
    assert.deepEqual(await fresh.retireUnwanted([], GRACE), [], 'never retired at first sight');
    clock.advance(GRACE);
    assert.deepEqual(await fresh.retireUnwanted([], GRACE), ['adopted.example']);
  });

  it('never retires with --retire-after 0, and never touches unmanaged-certs/', async (t) => {
    const { root, clock, manager } = await setup(t);
    await manager.issueMissing(want('forever.example'));
    await manager.retireUnwanted([], 0);
    clock.advance(365 * DAY);
    assert.deepEqual(await manager.retireUnwanted([], 0), []);
    assert.deepEqual(await readdir(join(root, 'unmanaged-certs')), []);
  });
});

describe('rate budget', () => {
  it('holds new orders back once the budget is spent, until the window allows them, but never renewals', async (t) => {
    const limits = { ordersPerWindow: 2, orderWindowMs: 3 * 3_600_000, certsPerDomainPerWindow: 50, domainWindowMs: 7 * DAY };
    const { ca, clock, manager } = await setup(t, 1, limits);
    const result = await manager.issueMissing(want('a.example', 'b.example', 'c.example'));
    assert.deepEqual(result.written, ['a.example', 'b.example']);
    assert.deepEqual(result.failed, ['c.example']);
    assert.equal(ca.calls.length, 2, 'the third order was never sent');
    const held = manager.failed.get('c.example');
    assert.equal(held?.lastError.type, 'budget');
    assert.ok((held.nextAttemptAt - clock.now()) > 2 * 3_600_000, 'it waits for the window, not for a short backoff');
    clock.advance(60 * DAY);
    assert.deepEqual((await manager.renewDue()).written.sort(), ['a.example', 'b.example'], 'renewals are exempt');
    assert.deepEqual((await manager.issueMissing(want('a.example', 'b.example', 'c.example'))).written, ['c.example']);
  });

  it('never overshoots the budget with several orders in flight at once, and gives back slots of failed orders', async (t) => {
    const limits = { ordersPerWindow: 50, orderWindowMs: 3 * 3_600_000, certsPerDomainPerWindow: 2, domainWindowMs: 7 * DAY };
    const { ca, manager } = await setup(t, 4, limits);
    ca.hold();
    const batch = manager.issueMissing(want('a.shared.example', 'b.shared.example', 'c.shared.example', 'd.shared.example'));
    await new Promise((r) => setImmediate(r));
    ca.open();
    const result = await batch;
    assert.equal(ca.calls.length, 2, 'only as many orders as the domain budget allows were sent, though 4 could run at once');
    assert.equal(result.written.length, 2);
    assert.equal(manager.failed.get(result.failed[0] ?? '')?.lastError.type, 'budget');

    const other = await setup(t, 4, limits);
    other.ca.failWith = 'the CA said no';
    assert.deepEqual((await other.manager.issueMissing(want('a.other.example', 'b.other.example'))).failed.length, 2);
    other.ca.failWith = undefined;
    // The failed orders' certificate slots came back, so both names can still be issued.
    other.clock.advance(DAY);
    assert.deepEqual((await other.manager.issueMissing(want('a.other.example', 'b.other.example'))).written.sort(), ['a.other.example', 'b.other.example']);
  });

  it('keeps which CA issued each certificate, for that serial only', async (t) => {
    const { ca, manager, state } = await setup(t);
    await manager.issueMissing(want('a.example'));
    const [cert] = manager.certificates();
    assert.equal(cert?.ca, ca.directoryUrl);
    const serial = manager.managed.get('a.example')?.serialHex;
    const written = parseState(serializeState(state)).state;
    assert.deepEqual(written.certificates.get('a.example')?.issuedBy, { directory: ca.directoryUrl, serial }, 'kept in state.json');
    // A certificate put in place by other means (a restore) is not taken for the recorded one.
    state.certificates.set('a.example', { ...state.certificates.get('a.example'), issuedBy: { directory: ca.directoryUrl, serial: 'ff' } });
    assert.equal(manager.certificates()[0]?.ca, undefined);
  });

  it('sends every order at once with no budget (--rate-limits none), and keeps no ledger', async (t) => {
    const { ca, manager } = await setup(t, 4, 'none');
    const names = Array.from({ length: 60 }, (_, i) => `n${i}.shared.example`);
    const result = await manager.issueMissing(want(...names));
    assert.equal(result.written.length, 60, "past Let's Encrypt's 45 per registered domain");
    assert.equal(ca.calls.length, 60);
    assert.equal(result.failed.length, 0);
  });

  it('counts a renewal that drops a name as a new certificate', async (t) => {
    // A window longer than the lifetime, so the first certificate's slot is still spent at renewal time.
    const limits = { ordersPerWindow: 50, orderWindowMs: 3 * 3_600_000, certsPerDomainPerWindow: 1, domainWindowMs: 100 * DAY };
    const { ca, clock, manager } = await setup(t, 1, limits);
    await manager.issueMissing([sanWant('/shop', 'shop.example', 'bad_name.shop.example')]);
    assert.equal(ca.calls.length, 1);
    clock.advance(61 * DAY);
    const renewed = await manager.renewDue();
    assert.deepEqual(renewed.written, [], 'the narrower renewal needs a slot the budget no longer has');
    assert.equal(manager.failed.get('shop.example')?.lastError.type, 'budget');
  });
});

describe('refresh', () => {
  /** The store's clock a minute ahead, so that files the test just wrote count as settled. */
  const aMinuteOn = () => Date.now() + 60_000;

  /** The names each listing read (parsed), and those it skipped as unchanged. */
  function watchListings(store: CertStore): { read: string[]; unchanged: string[] }[] {
    const listings: { read: string[]; unchanged: string[] }[] = [];
    const list = store.list.bind(store);
    store.list = async (options) => {
      const result = await list(options);
      listings.push({ read: [...result.certs, ...result.corrupt].map((c) => c.name), unchanged: result.unchanged });
      return result;
    };
    return listings;
  }

  it('parses nothing when nothing changed, and a file an order replaced once', async (t) => {
    const { store, clock, manager } = await setup(t, 2, undefined, aMinuteOn);
    await manager.issueMissing(want('a.example', 'b.example', 'c.example'));
    const listings = watchListings(store);
    await manager.refresh();
    const before = new Map(manager.managed);
    await manager.refresh();
    assert.deepEqual(listings, [
      { read: ['a.example', 'b.example', 'c.example'], unchanged: [] },
      { read: [], unchanged: ['a.example', 'b.example', 'c.example'] },
    ]);
    assert.deepEqual(new Map(manager.managed), before, 'the summaries are kept as they were');

    clock.advance(61 * 86_400_000);
    assert.equal((await manager.renewDue()).written.length, 3);
    const renewed = new Map(manager.managed);
    await manager.refresh();
    await manager.refresh();
    assert.deepEqual(listings.slice(2), [
      { read: ['a.example', 'b.example', 'c.example'], unchanged: [] },
      { read: [], unchanged: ['a.example', 'b.example', 'c.example'] },
    ]);
    assert.deepEqual(new Map(manager.managed), renewed);
  });

  it('reads a replaced file again, drops a deleted one and moves aside one corrupted in place', async (t) => {
    const { root, store, ca, clock, manager } = await setup(t, 2, undefined, aMinuteOn);
    await manager.issueMissing(want('replaced.example', 'deleted.example', 'shorter.example', 'same-size.example', 'kept.example'));
    await manager.refresh();
    const listings = watchListings(store);
    const certs = join(root, 'certs');

    const replacement = await ca.issue(['replaced.example', 'www.replaced.example']);
    await store.write('replaced.example', formatBundle(replacement.keyPem, replacement.chainPem));
    await rm(join(certs, 'deleted.example.pem'));
    await writeFile(join(certs, 'shorter.example.pem'), 'garbage');
    // Same size, written in place: only the timestamps tell, here set well apart from the first write.
    const sameSize = join(certs, 'same-size.example.pem');
    const { size, mtime } = await stat(sameSize);
    await writeFile(sameSize, (await readFile(sameSize, 'utf8')).replace('BEGIN CERTIFICATE', 'BEGIN CERTIFICATX'));
    assert.equal((await stat(sameSize)).size, size);
    await utimes(sameSize, new Date(clock.now()), new Date(mtime.getTime() + 5_000));

    await manager.refresh();
    assert.deepEqual(listings, [{ read: ['replaced.example', 'same-size.example', 'shorter.example'], unchanged: ['kept.example'] }]);
    assert.deepEqual([...manager.managed.keys()].sort(), ['kept.example', 'replaced.example']);
    assert.deepEqual(manager.managed.get('replaced.example')?.names, ['replaced.example', 'www.replaced.example']);
    assert.deepEqual(await readdir(certs), ['kept.example.pem', 'replaced.example.pem']);
    assert.equal((await readdir(join(root, 'corrupt-certs'))).length, 2);
  });

  it('reads a file again while it is too fresh to be told from a same-size rewrite', async (t) => {
    const { store, manager } = await setup(t);
    await manager.issueMissing(want('fresh.example'));
    const listings = watchListings(store);
    await manager.refresh();
    await manager.refresh();
    assert.deepEqual(listings, [
      { read: ['fresh.example'], unchanged: [] },
      { read: ['fresh.example'], unchanged: [] },
    ]);
  });
});

describe('files named in other letter case (adopted from the original)', () => {
  const GRACE = 7 * DAY;

  /** certs/<file>.pem holding a certificate for `names`, issued now by another CA than the manager's. */
  async function seed(root: string, clock: OffsetClock, file: string, names: string[], lifetimeMs = 90 * DAY): Promise<void> {
    const issued = await new FakeCa(lifetimeMs, () => clock.now()).issue(names);
    await writeFile(join(root, 'certs', `${file}.pem`), formatBundle(issued.keyPem, issued.chainPem));
  }

  it('serves the lower-case name: no order, no retirement, and its renewal is written as certs/<name>.pem', async (t) => {
    const { root, clock, ca, manager } = await setup(t);
    await seed(root, clock, 'Mixed.Example', ['mixed.example']);
    await manager.refresh();
    assert.deepEqual([...manager.managed.keys()], ['mixed.example']);
    assert.deepEqual(await manager.issueMissing(want('mixed.example')), { written: [], failed: [] });
    assert.deepEqual(ca.calls, [], 'the stored certificate serves the wanted name');
    assert.deepEqual(await manager.retireUnwanted(want('mixed.example'), GRACE), []);
    clock.advance(GRACE + DAY);
    await manager.refresh();
    assert.deepEqual(await manager.retireUnwanted(want('mixed.example'), GRACE), []);
    assert.deepEqual(await manager.issueMissing(want('mixed.example')), { written: [], failed: [] });
    assert.deepEqual(await readdir(join(root, 'certs')), ['Mixed.Example.pem']);

    const [outcome] = await manager.renewNow(['mixed.example']);
    assert.equal(outcome?.outcome, 'renewed');
    assert.deepEqual(ca.calls, [['mixed.example']]);
    assert.deepEqual(await readdir(join(root, 'certs')), ['mixed.example.pem'], 'one file for the name, in lower case');
    await manager.refresh();
    assert.deepEqual([...manager.managed.keys()], ['mixed.example']);
    assert.equal((await readdir(root)).includes('retired-certs'), false);
  });

  it('retires such a file under the lower-case name once no app wants it', async (t) => {
    const { root, clock, manager } = await setup(t);
    await seed(root, clock, 'Gone.Example', ['gone.example']);
    await manager.refresh();
    assert.deepEqual(await manager.retireUnwanted([], GRACE), []);
    clock.advance(GRACE);
    assert.deepEqual(await manager.retireUnwanted([], GRACE), ['gone.example']);
    assert.deepEqual(await readdir(join(root, 'certs')), []);
    assert.deepEqual(await readdir(join(root, 'retired-certs')), ['gone.example.pem']);
  });

  it('of two files serving one name keeps the one expiring last and moves the other out at once', async (t) => {
    const { root, clock, ca, manager } = await setup(t);
    await seed(root, clock, 'dup.example', ['dup.example'], 30 * DAY);
    await seed(root, clock, 'Dup.Example', ['dup.example'], 90 * DAY);
    await manager.refresh();
    assert.deepEqual(await readdir(join(root, 'certs')), ['Dup.Example.pem']);
    assert.deepEqual(await readdir(join(root, 'retired-certs')), ['dup.example.pem']);
    assert.ok((manager.managed.get('dup.example')?.notAfter ?? 0) > clock.now() + 80 * DAY, 'the 90-day certificate is the one kept');
    assert.deepEqual(await manager.issueMissing(want('dup.example')), { written: [], failed: [] });
    await manager.renewNow(['dup.example']);
    assert.deepEqual(ca.calls, [['dup.example']]);
    assert.deepEqual(await readdir(join(root, 'certs')), ['dup.example.pem']);
  });
});
