/**
 * Certificate lifecycle against pebble behind the ACME proxy (which counts orders and adds what
 * pebble 2.4 lacks): preflight keeps unreachable names away from the CA, SAN orders, profiles.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { parseBundle } from '../../src/certs/bundle.js';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { closeServer, listen } from '../../src/http/server.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { ariCertId } from '../../src/acme/ari.js';
import { OffsetClock, type Clock } from '../../src/util/clock.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { eventually } from '../support/eventually.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { pebbleTls, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

/** Test names resolve to this machine, except the ones a test wants unreachable. */
function lookupFor(table: Record<string, string[]>) {
  return (host: string): Promise<string[]> => Promise.resolve(table[host] ?? ['127.0.0.1']);
}

describe('certificate lifecycle through the counting ACME proxy', () => {
  let pebble: Pebble;
  let proxy: AcmeProxy;
  let httpPort = 0;

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort });
    proxy = await AcmeProxy.start({
      upstream: pebble.directoryUrl,
      caPem: (await pebbleTls()).caPem,
      profiles: { classic: 'the default', tlsserver: 'short and simple' },
    });
  });
  after(async () => {
    await proxy.stop();
    await pebble.stop();
  });

  const created = (names: string[]) => proxy.orders.filter((o) => o.status === 201 && o.identifiers.join() === names.join());

  async function run(t: TestContext, apps: object[], overrides: Partial<Config>, lookup = lookupFor({}), clock?: Clock) {
    const defer = cleanupStack(t);
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    for (const app of apps) marathon.addApp(app);
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = overrides.storageDir ?? (await mkdtemp(join(tmpdir(), 'ma-lifecycle-')));
    defer(() => rm(storage, { recursive: true, force: true }));
    const config = testConfig({
      acmeDirectoryUrl: proxy.directoryUrl,
      marathonUrls: [marathon.url],
      lbUrls: [lb.url],
      listen: { host: '127.0.0.1', port: httpPort },
      acmeCaFile: pebble.caFile,
      ...overrides,
      storageDir: storage,
    });
    const daemon = new Daemon({ config, logger: process.env['MARATHON_ACME_TEST_LOGS'] === '1' ? createLogger('debug', process.stderr) : silentLogger(), lookup, ...(clock === undefined ? {} : { clock }) });
    await daemon.start();
    defer(() => daemon.stop(1_000));
    const files = async () => (await readdir(join(storage, 'certs'))).sort();
    const state = async () =>
      JSON.parse(await readFile(join(storage, 'state.json'), 'utf8').catch(() => '{"certificates":{}}')) as {
        certificates: Record<string, { failure?: { lastError: { type: string } }; renewal?: { renewAt: string; source: string } }>;
      };
    const leafOf = async (name: string) => {
      const parsed = parseBundle(await readFile(join(storage, 'certs', `${name}.pem`), 'utf8'));
      if (!parsed.ok) assert.fail(parsed.reason);
      return parsed.bundle.leafPem;
    };
    return { daemon, storage, files, state, leafOf };
  }

  it('never orders a name whose DNS or routing does not reach this daemon', async (t) => {
    const apps = [
      hostApp('/ok', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'reachable.example.test' }),
      hostApp('/nodns', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'nodns.example.test' }),
      hostApp('/elsewhere', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'elsewhere.example.test' }),
    ];
    // elsewhere.example.test points at another web server: a routing mistake. (An address that
    // refuses while marathon-lb routes the name here looks like hairpin NAT and is ordered: see
    // preflight-routes.test.ts.)
    const elsewhere = createServer((_req, res) => {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    });
    await listen(elsewhere, '127.0.0.2', httpPort);
    cleanupStack(t)(() => closeServer(elsewhere));
    const lookup = lookupFor({ 'nodns.example.test': [], 'elsewhere.example.test': ['127.0.0.2'] });
    const { daemon, files, state } = await run(t, apps, { preflight: 'strict', preflightPort: httpPort }, lookup);
    await eventually('the reachable certificate', async () => (await files()).length === 1);
    await daemon.whenIdle();
    assert.deepEqual(await files(), ['reachable.example.test.pem']);
    assert.equal(created(['reachable.example.test']).length, 1);
    assert.deepEqual(proxy.orders.filter((o) => o.identifiers.some((n) => n.startsWith('nodns') || n.startsWith('elsewhere'))), [], 'the CA never saw them');
    const remembered = (await state()).certificates;
    assert.equal(remembered['nodns.example.test']?.failure?.lastError.type, 'preflight:dns');
    assert.equal(remembered['elsewhere.example.test']?.failure?.lastError.type, 'preflight:http-status');
  });

  it('in san mode orders once for all names of a port, leaving out a name that fails preflight', async (t) => {
    const apps = [hostApp('/san', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'a.san.example.test b.san.example.test c.san.example.test lost.san.example.test' })];
    const lookup = lookupFor({ 'lost.san.example.test': [] });
    const { daemon, files, storage } = await run(t, apps, { multipleDomains: 'san', preflight: 'advisory', preflightPort: httpPort }, lookup);
    await eventually('the SAN certificate', async () => (await files()).length === 1);
    await daemon.whenIdle();
    const names = ['a.san.example.test', 'b.san.example.test', 'c.san.example.test'];
    assert.equal(created(names).length, 1, 'one order for the three reachable names');
    const parsed = parseBundle(await readFile(join(storage, 'certs', 'a.san.example.test.pem'), 'utf8'));
    assert.ok(parsed.ok);
    assert.deepEqual([...parsed.bundle.leaf.names].sort(), names);
    daemon.requestSync('test: again');
    await daemon.whenIdle();
    assert.equal(created(names).length, 1, 'the missing name does not cause a re-issue at every sync');
  });

  it('sends the configured profile with each order when the CA offers it', async (t) => {
    const apps = [hostApp('/p', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'profiled.example.test' })];
    const { files } = await run(t, apps, { acmeProfile: 'tlsserver' });
    await eventually('the certificate', async () => (await files()).length === 1);
    assert.deepEqual(created(['profiled.example.test']).map((o) => o.profile), ['tlsserver']);
  });

  const HOUR = 3_600_000;
  // pebble rejects some nonces on purpose (400 badNonce, retried by the client): not real answers.
  const ordersReplacing = (certId: string) => proxy.orders.filter((o) => o.replaces === certId && o.status !== 400);
  /**
   * The start-up renewal check may already have asked ARI about a new certificate (before the test
   * set its window) and been told to come back in up to six hours; move the clock past that.
   */
  const pastTheLastPoll = (clock: OffsetClock) => {
    clock.advance(7 * HOUR);
  };

  it("renews at once, naming the old certificate in 'replaces', when the CA's window has opened", async (t) => {
    const apps = [hostApp('/ari', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'ari-now.example.test' })];
    const clock = new OffsetClock();
    const { daemon, files, leafOf } = await run(t, apps, {}, lookupFor({}), clock);
    await eventually('the certificate', async () => (await files()).length === 1);
    await daemon.whenIdle();
    const first = await leafOf('ari-now.example.test');
    const certId = ariCertId(first);
    pastTheLastPoll(clock);
    proxy.setWindow(certId, { start: new Date(clock.now() - HOUR), end: new Date(clock.now() - 60_000) });
    daemon.requestRenewalCheck('test');
    await daemon.whenIdle();
    assert.notEqual(await leafOf('ari-now.example.test'), first, 'renewed');
    assert.deepEqual(ordersReplacing(certId).map((o) => o.status), [201]);
  });

  it('keeps its renewal time inside a future window across a restart, and renews when it comes', async (t) => {
    const apps = [hostApp('/ari', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'ari-later.example.test' })];
    const clock = new OffsetClock();
    const first = await run(t, apps, {}, lookupFor({}), clock);
    await eventually('the certificate', async () => (await first.files()).length === 1);
    await first.daemon.whenIdle();
    const leaf = await first.leafOf('ari-later.example.test');
    const certId = ariCertId(leaf);
    pastTheLastPoll(clock);
    const start = clock.now() + 24 * HOUR;
    proxy.setWindow(certId, { start: new Date(start), end: new Date(start + 24 * HOUR) }, 6 * 3600);
    first.daemon.requestRenewalCheck('test');
    await first.daemon.whenIdle();
    const chosen = (await first.state()).certificates['ari-later.example.test']?.renewal;
    assert.equal(chosen?.source, 'ari');
    const renewAt = Date.parse(chosen.renewAt);
    assert.ok(renewAt >= start && renewAt < start + 24 * HOUR, 'inside the window');
    await first.daemon.stop(1_000);

    const again = await run(t, apps, { storageDir: first.storage }, lookupFor({}), clock);
    await eventually('the account after the restart', () => again.daemon.health().details['accountReady'] === true);
    again.daemon.requestRenewalCheck('test: after restart');
    await again.daemon.whenIdle();
    assert.equal((await again.state()).certificates['ari-later.example.test']?.renewal?.renewAt, chosen.renewAt, 'not drawn again');
    assert.equal(await again.leafOf('ari-later.example.test'), leaf, 'not renewed before its time');

    clock.advance(renewAt - clock.now() + 1_000);
    again.daemon.requestRenewalCheck('test: time has come');
    await again.daemon.whenIdle();
    assert.notEqual(await again.leafOf('ari-later.example.test'), leaf);
    assert.deepEqual(ordersReplacing(certId).map((o) => o.status), [201]);
  });

  const refusals = [
    { why: 'the certificate was already replaced', name: 'ari-replaced.example.test', problem: { type: 'alreadyReplaced', status: 409 } },
    // Let's Encrypt's answer after a move to another account key: the old account ordered the predecessor.
    {
      why: 'another account ordered the certificate',
      name: 'ari-other-account.example.test',
      problem: { type: 'unauthorized', status: 403, detail: 'requester account did not request the certificate being replaced by this order' },
    },
  ];
  for (const { why, name, problem } of refusals) {
    it(`orders again without 'replaces' when the CA says ${why}`, async (t) => {
      const apps = [hostApp('/ari', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name })];
      const clock = new OffsetClock();
      const { daemon, files, leafOf } = await run(t, apps, {}, lookupFor({}), clock);
      await eventually('the certificate', async () => (await files()).length === 1);
      await daemon.whenIdle();
      const leaf = await leafOf(name);
      const certId = ariCertId(leaf);
      pastTheLastPoll(clock);
      proxy.setWindow(certId, { start: new Date(clock.now() - HOUR), end: new Date(clock.now() - 60_000) });
      proxy.rejectReplaces(true, problem);
      t.after(() => { proxy.rejectReplaces(false); });
      daemon.requestRenewalCheck('test');
      await daemon.whenIdle();
      assert.notEqual(await leafOf(name), leaf, 'renewed all the same');
      assert.deepEqual(ordersReplacing(certId).map((o) => o.status), [problem.status]);
      assert.equal(created([name]).filter((o) => o.replaces === undefined).length, 2, 'the first order and the retry without replaces');
    });
  }

  it("waits out the CA's Retry-After after a rateLimited answer, and remembers it", async (t) => {
    const apps = [hostApp('/limited', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'limited.example.test' })];
    proxy.failNext('/order-plz', 1, 429, 'rateLimited', 7200);
    const before = Date.now();
    const { daemon, files, state } = await run(t, apps, {});
    await eventually('the failure is remembered', async () => (await state()).certificates['limited.example.test']?.failure !== undefined);
    await daemon.whenIdle();
    const failure = (await state()).certificates['limited.example.test']?.failure as
      | { lastError: { type: string; status: number }; nextAttemptAt: string }
      | undefined;
    assert.equal(failure?.lastError.type, 'rateLimited');
    assert.equal(failure.lastError.status, 429);
    assert.ok(Date.parse(failure.nextAttemptAt) >= before + 7_200_000, 'not before the two hours the CA asked for');
    daemon.requestSync('test: again');
    await daemon.whenIdle();
    assert.deepEqual(await files(), [], 'no new order while the CA asked us to wait');
  });
});
