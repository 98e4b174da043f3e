/** The CA misbehaving: rejected nonces, 5xx answers. Every certificate must still arrive. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { OffsetClock } from '../../src/util/clock.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { pebbleTls, startPebble, type PebbleOptions } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

async function run(t: TestContext, count: number, pebbleOptions: Omit<PebbleOptions, 'httpPort'>, withProxy: boolean, clock?: OffsetClock) {
  const defer = cleanupStack(t);
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort, ...pebbleOptions });
  defer(() => pebble.stop());
  const proxy = withProxy ? await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem }) : undefined;
  if (proxy !== undefined) defer(() => proxy.stop());
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  for (let i = 0; i < count; i++) {
    marathon.addApp(hostApp(`/f${i}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: `fault${i}.example.test` }));
  }
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-cafault-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: proxy?.directoryUrl ?? pebble.directoryUrl,
    marathonUrls: [marathon.url],
    lbUrls: [lb.url],
    listen: { host: '127.0.0.1', port: httpPort },
    acmeCaFile: pebble.caFile,
  });
  const daemon = new Daemon({ config, logger: silentLogger(), ...(clock === undefined ? {} : { clock }) });
  await daemon.start();
  defer(() => daemon.stop(1_000));
  const files = async () => readdir(join(storage, 'certs'));
  return { daemon, proxy, files, storage };
}

describe('CA faults', () => {
  it('issues every certificate while pebble rejects half of all nonces', async (t) => {
    const { files } = await run(t, 10, { env: { PEBBLE_WFE_NONCEREJECT: '50' } }, false);
    await eventually('ten certificates', async () => (await files()).length === 10, 90_000);
  });

  it('backs off when the CA answers 500, and completes once it recovers', async (t) => {
    const clock = new OffsetClock();
    const { daemon, proxy, files, storage } = await run(t, 3, {}, true, clock);
    proxy?.failNext('/order-plz', 3, 500);
    await eventually('three failures remembered', async () => {
      const state = JSON.parse(await readFile(join(storage, 'state.json'), 'utf8').catch(() => '{"certificates":{}}')) as {
        certificates: Record<string, { failure?: { lastError: { status: number } } }>;
      };
      return Object.values(state.certificates).filter((c) => c.failure?.lastError.status === 500).length === 3;
    });
    await daemon.whenIdle();
    assert.deepEqual(await files(), [], 'nothing issued while the CA fails');
    daemon.requestSync('test: within the backoff');
    await daemon.whenIdle();
    assert.equal(proxy?.orders.filter((o) => o.status === 500).length, 3, 'no retry inside the one-minute backoff');
    clock.advance(61_000);
    daemon.requestSync('test: backoff over');
    await eventually('all three once the CA works again', async () => (await files()).length === 3);
  });
});
