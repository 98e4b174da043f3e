/**
 * The start of the day-two command tests: pebble, Marathon with one app wanting `name`, a marathon-lb
 * stand-in, and a daemon (in this process) that has issued `name`'s certificate and signalled the LB.
 * Everything is stopped and removed after the test, the daemon first.
 */
import 'reflect-metadata';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { hostApp } from './apps.js';
import { cleanupStack } from './cleanup.js';
import { testConfig } from './config.js';
import { eventually } from './eventually.js';
import { startLbReceiver, type LbReceiver } from './lb-receiver.js';
import type { MarathonEmulator } from './marathon-emulator.js';
import { startPeers } from './peers.js';
import type { Pebble } from './pebble.js';

export interface IssuedSetup {
  config: Config;
  daemon: Daemon;
  lb: LbReceiver;
  pebble: Pebble;
  marathon: MarathonEmulator;
  storage: string;
  defer: (cleanup: () => Promise<unknown>) => void;
  /** Starts another daemon on the same configuration (stopped after the test). */
  startDaemon(): Promise<Daemon>;
}

export function testLogger(): Logger {
  return process.env['MARATHON_ACME_TEST_LOGS'] === '1' ? createLogger('debug', process.stderr) : silentLogger();
}

export async function issuedDaemon(t: TestContext, name: string): Promise<IssuedSetup> {
  const defer = cleanupStack(t);
  const { httpPort, pebble, marathon } = await startPeers(defer);
  marathon.addApp(hostApp(`/${name.split('.')[0] ?? 'app'}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-dayshift-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: pebble.directoryUrl,
    acmeCaFile: pebble.caFile,
    marathonUrls: [marathon.url],
    lbUrls: [lb.url],
    listen: { host: '127.0.0.1', port: httpPort },
    keyType: 'ecdsa-p256',
  });
  const startDaemon = async (): Promise<Daemon> => {
    const started = new Daemon({ config, logger: testLogger() });
    defer(() => started.stop(1_000));
    await started.start();
    return started;
  };
  const daemon = await startDaemon();
  await eventually('the first certificate', async () => (await readdir(join(storage, 'certs'))).includes(`${name}.pem`));
  await daemon.whenIdle();
  await daemon.lbSettled();
  return { config, daemon, lb, pebble, marathon, storage, defer, startDaemon };
}
