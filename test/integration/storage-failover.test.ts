/**
 * Two real executables on one storage directory, without ZooKeeper, behind a round-robin proxy on the
 * port pebble validates (as marathon-lb would route the CA): one leads, and the other follows and
 * answers the validations the proxy sends it; kill -9 the leader and the follower takes the lock over
 * (its holder's process on this host is gone), then issues for a new app, and orders nothing the
 * first one had already stored.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { startPeers } from '../support/peers.js';
import { freePort } from '../support/ports.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

async function serialOf(storage: string, name: string): Promise<string | undefined> {
  const text = await readFile(join(storage, 'certs', `${name}.pem`), 'utf8').catch(() => undefined);
  const leaf = text === undefined ? undefined : /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  return leaf === undefined ? undefined : new X509Certificate(leaf).serialNumber;
}

describe('two daemons on one storage directory, without ZooKeeper', () => {
  it('hands over to the follower when the leader is killed, and orders nothing twice', async (t) => {
    const defer = cleanupStack(t);
    const { httpPort, pebble, marathon } = await startPeers(defer);
    marathon.addApp(hostApp('/first', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'first.example.test' }));
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-failover-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const ports = [await freePort(), await freePort()];
    const proxy = await startTcpProxy(ports.map((port) => ({ port })), httpPort);
    defer(() => proxy.stop());
    const start = (port: number): DaemonProcess =>
      spawnDaemon(defer, port, ['--acme', pebble.directoryUrl, '--acme-ca-file', pebble.caFile, '--marathon', marathon.url, '--lb', lb.url, '--no-preflight', '--key-type', 'ecdsa-p256', storage]);
    const [portA = 0, portB = 0] = ports;
    const a = start(portA);
    await eventually('a leads', async () => (await a.role()) === 'leader', 30_000);
    await eventually('first.example.test issued by a', async () => (await serialOf(storage, 'first.example.test')) !== undefined, 60_000);
    const firstSerial = await serialOf(storage, 'first.example.test');
    const b = start(portB);
    await eventually('b follows', async () => (await b.role()) === 'follower', 30_000);

    // a orders; the proxy sends the CA's validation to b as often as to a, and b answers from the board.
    const toB = proxy.accepted[1] ?? 0;
    marathon.addApp(hostApp('/shared', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shared.example.test' }));
    await eventually('shared.example.test issued by a', async () => (await serialOf(storage, 'shared.example.test')) !== undefined, 60_000);
    assert.ok((proxy.accepted[1] ?? 0) > toB, `the follower got the CA's validation request (${JSON.stringify(proxy.accepted)} connections to a, b)`);

    const killedAt = Date.now();
    await a.kill();
    await eventually('b leads', async () => (await b.role()) === 'leader', 30_000);
    t.diagnostic(`b led ${Date.now() - killedAt} ms after a was killed`);

    marathon.addApp(hostApp('/second', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'second.example.test' }));
    await eventually('second.example.test issued by b', async () => (await serialOf(storage, 'second.example.test')) !== undefined, 60_000);
    assert.equal(await serialOf(storage, 'first.example.test'), firstSerial, 'b took over the stored certificate instead of ordering it again');
  });
});
