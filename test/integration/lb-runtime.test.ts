/**
 * Certificates delivered over HAProxy's runtime API (Debian's HAProxy 2.6 behind the marathon-lb
 * stand-in, with an admin stats socket on a free TCP port): a new name, a renewal and a retirement
 * change what HAProxy serves by SNI while the same HAProxy processes keep running and no reload
 * signal is sent; with the socket gone, the reload signal still delivers.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { CertStore } from '../../src/certs/store.js';
import { Daemon } from '../../src/daemon.js';
import { OffsetClock } from '../../src/util/clock.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { testLogger } from '../support/issued-daemon.js';
import { servedFingerprint } from '../support/served-leaf.js';
import { startMarathonLb } from '../support/marathon-lb.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';
import { parseExposition } from '../support/prometheus.js';

const MINUTE = 60_000;

async function storedFingerprint(storage: string, file: string): Promise<string | undefined> {
  const text = await readFile(join(storage, file), 'utf8').catch(() => undefined);
  const leaf = text === undefined ? undefined : /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  return leaf === undefined ? undefined : new X509Certificate(leaf).fingerprint256;
}

async function counter(port: number, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${port}/metrics`)).body.text();
  const sample = parseExposition(text).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return sample?.value ?? 0;
}

async function setup(t: TestContext, options: { deadSocket?: boolean } = {}) {
  const defer = cleanupStack(t);
  const httpPort = await freePort();
  // A one-hour lifetime: the test moves the daemon's clock to the renewal time instead of waiting.
  const pebble = await startPebble({ httpPort, validitySeconds: 3600 });
  defer(() => pebble.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-runtime-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  await new CertStore(storage).init(new Date());
  const lb = await startMarathonLb({ storageDir: storage, acmePort: httpPort, runtimeSocket: true });
  defer(() => lb.stop());
  const clock = new OffsetClock();
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: pebble.directoryUrl,
    acmeCaFile: pebble.caFile,
    marathonUrls: [marathon.url],
    lbUrls: [lb.url],
    // A socket file that does not exist stands for a socket that is down or was never exposed.
    lbRuntime: [
      options.deadSocket === true
        ? { kind: 'unix', path: join(storage, 'no-such-socket'), display: 'unix:///no-such-socket' }
        : { kind: 'tcp', host: '127.0.0.1', port: lb.runtimePort, display: `tcp://127.0.0.1:${lb.runtimePort}` },
    ],
    listen: { host: '127.0.0.1', port: httpPort },
    keyType: 'ecdsa-p256',
    deliveryCheckPort: lb.httpsPort,
    deliveryCheckIntervalMs: 0,
    retireAfterMs: 1_000,
  });
  const daemon = new Daemon({ config, logger: testLogger(), clock, deliveryTiming: { graceMs: 3_000 }, deliveryTarget: () => ({ host: '127.0.0.1', port: lb.httpsPort }) });
  await daemon.start();
  defer(() => daemon.stop(2_000));
  return { daemon, marathon, lb, storage, clock };
}

describe('delivery over the HAProxy runtime API (--lb-runtime)', () => {
  it('adds, replaces and removes certificates in a running HAProxy 2.6 without any reload', async (t) => {
    const { daemon, marathon, lb, storage, clock } = await setup(t);
    const pidsBefore = lb.pids();
    const name = 'live.example.test';
    const defaultLeaf = await storedFingerprint(storage, 'default.pem');
    const added = Date.now();
    marathon.addApp(hostApp('/live', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
    await eventually('the new certificate served by SNI', async () => {
      const stored = await storedFingerprint(storage, `certs/${name}.pem`);
      return stored !== undefined && (await servedFingerprint(lb.httpsPort, name)) === stored;
    });
    t.diagnostic(`app added → new certificate served by the running HAProxy: ${Date.now() - added} ms`);
    await daemon.lbSettled();
    assert.deepEqual(lb.pids(), pidsBefore, 'the same HAProxy process, never restarted');
    assert.equal(lb.usr1, 0, 'no reload signal was sent');
    assert.equal(lb.reloads, 0);
    assert.equal(await counter(daemon.port, 'marathon_acme_lb_runtime_updates_total', { lb: lb.url, outcome: 'success' }), 1);
    await eventually('the delivery check confirms it', async () => (await counter(daemon.port, 'marathon_acme_delivery_status', { lb: lb.url, domain: name, status: 'served' })) === 1);

    // Renewed: the new leaf replaces the old one in place.
    const first = await storedFingerprint(storage, `certs/${name}.pem`);
    clock.advance(45 * MINUTE);
    daemon.requestRenewalCheck('test: renewal due');
    await eventually('the renewed certificate served', async () => {
      const stored = await storedFingerprint(storage, `certs/${name}.pem`);
      return stored !== undefined && stored !== first && (await servedFingerprint(lb.httpsPort, name)) === stored;
    });
    await daemon.lbSettled();
    assert.deepEqual(lb.pids(), pidsBefore);
    assert.equal(lb.usr1, 0);

    // Retired: no app wants it for --retire-after, and HAProxy stops presenting it.
    marathon.removeApp('/live');
    daemon.requestSync('test: app gone');
    await daemon.whenIdle();
    clock.advance(2_000);
    daemon.requestSync('test: after the grace');
    await eventually('retired', async () => (await storedFingerprint(storage, `certs/${name}.pem`)) === undefined);
    await eventually('no longer presented', async () => (await servedFingerprint(lb.httpsPort, name)) === defaultLeaf);
    await daemon.lbSettled();
    assert.deepEqual(lb.pids(), pidsBefore);
    assert.equal(lb.usr1, 0);
    assert.equal(await counter(daemon.port, 'marathon_acme_lb_runtime_updates_total', { lb: lb.url, outcome: 'success' }), 3);
  });

  it('falls back to the reload signal when the runtime socket does not answer', async (t) => {
    const { daemon, marathon, lb, storage } = await setup(t, { deadSocket: true });
    const name = 'fallback.example.test';
    marathon.addApp(hostApp('/fallback', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
    await eventually('served after a reload', async () => {
      const stored = await storedFingerprint(storage, `certs/${name}.pem`);
      return stored !== undefined && (await servedFingerprint(lb.httpsPort, name)) === stored;
    });
    assert.ok(lb.usr1Reloads >= 1, 'delivered by the reload signal');
    assert.equal(await counter(daemon.port, 'marathon_acme_lb_runtime_updates_total', { lb: lb.url, outcome: 'failure' }), 1);
  });
});
