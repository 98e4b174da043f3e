/**
 * Two real CAs: two pebbles (each run has its own random root), the primary behind the ACME proxy so
 * that the test can make it fail, and the daemon as an operator runs it with `--acme primary,second
 * --fallback-after 2`. The primary's validations reach the daemon through a TCP proxy the test can
 * take away, which makes a real validation failure at the primary only.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { spawnDaemon, type DaemonProcess } from '../support/daemon-process.js';
import { eventually } from '../support/eventually.js';
import { haproxyCheck } from '../support/haproxy.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const BIN = fileURLToPath(new URL('../../bin/marathon-acme', import.meta.url));
const run = promisify(execFile);

interface StoredState {
  certificates: Record<string, { issuedBy?: { directory: string }; failure?: { kind?: string; directory?: string } } | undefined>;
  cas: Array<{ directory: string; downSince: string | null }>;
}

async function stateOf(storage: string): Promise<StoredState | undefined> {
  const text = await readFile(join(storage, 'state.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as StoredState);
}

async function leafOf(storage: string, name: string): Promise<X509Certificate | undefined> {
  const text = await readFile(join(storage, 'certs', `${name}.pem`), 'utf8').catch(() => undefined);
  const pem = text === undefined ? undefined : /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  return pem === undefined ? undefined : new X509Certificate(pem);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

describe('several CAs in order', () => {
  it('issues from the second CA while the primary fails, goes back to the primary, never moves a failed validation, and keeps each account', async (t) => {
    const defer = cleanupStack(t);
    const daemonPort = await freePort();
    const validationRoute = await startTcpProxy([{ port: daemonPort }]);
    let routeStopped = false;
    defer(() => (routeStopped ? Promise.resolve() : validationRoute.stop()));
    const primaryPebble = await startPebble({ httpPort: validationRoute.port });
    defer(() => primaryPebble.stop());
    const secondPebble = await startPebble({ httpPort: daemonPort });
    defer(() => secondPebble.stop());
    const caPem = await readFile(primaryPebble.caFile, 'utf8');
    const primary = await AcmeProxy.start({ upstream: primaryPebble.directoryUrl, caPem });
    defer(() => primary.stop());
    const second = await AcmeProxy.start({ upstream: secondPebble.directoryUrl, caPem });
    defer(() => second.stop());
    const primaryIssuer = new X509Certificate(await primaryPebble.intermediatePem()).subject;
    const secondIssuer = new X509Certificate(await secondPebble.intermediatePem()).subject;
    assert.notEqual(primaryIssuer, secondIssuer, 'two CAs with different roots');

    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-cas-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const args = ['--acme', `${primary.directoryUrl},${second.directoryUrl}`, '--fallback-after', '2', '--acme-ca-file', primaryPebble.caFile, '--marathon', marathon.url, '--lb', lb.url, '--no-preflight', '--key-type', 'ecdsa-p256', storage];
    const app = (name: string) => hostApp(`/${name.split('.')[0] ?? name}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name });
    const issuedBy = async (name: string) => (await stateOf(storage))?.certificates[name]?.issuedBy?.directory;
    const ordersFor = (proxy: AcmeProxy, name: string) => proxy.orders.filter((o) => o.identifiers.includes(name));

    // 1. The primary answers 503 to every newOrder: after --fallback-after the name goes to the second CA.
    primary.failNext('/order-plz', 100_000, 503);
    let daemon: DaemonProcess = spawnDaemon(defer, daemonPort, args);
    marathon.addApp(app('outage.example.test'));
    await eventually('outage.example.test issued', async () => (await issuedBy('outage.example.test')) !== undefined, 60_000);
    assert.equal(await issuedBy('outage.example.test'), second.directoryUrl);
    assert.equal((await leafOf(storage, 'outage.example.test'))?.issuer, secondIssuer, "the stored chain is the second CA's");
    assert.ok(ordersFor(primary, 'outage.example.test').every((o) => o.status === 503) && ordersFor(primary, 'outage.example.test').length >= 1);
    const firstTry = primary.orderTimes[0] ?? 0;
    const movedAfter = (second.orderTimes[0] ?? 0) - firstTry;
    t.diagnostic(`first order at the primary, then at the second CA ${movedAfter} ms later (--fallback-after 2 s)`);
    assert.ok(movedAfter >= 1_900, 'not before the primary had failed for --fallback-after');
    const secondKeyFile = join(storage, 'accounts', `127.0.0.1_${new URL(second.directoryUrl).port}`, 'client.key');
    const secondKey = createHash('sha256').update(await readFile(secondKeyFile)).digest('hex');
    const statusJson = (await (await fetch(`http://127.0.0.1:${daemonPort}/status.json`)).json()) as { cas: Array<{ directory: string; unavailableSince: string | null }> };
    assert.deepEqual(statusJson.cas.map((c) => c.directory), [primary.directoryUrl, second.directoryUrl]);
    assert.notEqual(statusJson.cas[0]?.unavailableSince, null, '/status.json shows the primary as unavailable');
    const metrics = await (await fetch(`http://127.0.0.1:${daemonPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`marathon_acme_ca_available\\{ca="${primary.directoryUrl}",primary="true"\\} 0`));
    assert.match(metrics, new RegExp(`marathon_acme_certificate_ca_info\\{domain="outage.example.test",ca="${second.directoryUrl}"\\} 1`));

    // 2. Rate limited with a Retry-After of a day: once the primary's test order is due, it gets one
    // order, and the name goes to the second CA at once instead of waiting a day.
    primary.clearFaults();
    primary.failNext('/order-plz', 100_000, 429, 'rateLimited', 86_400);
    await sleep(firstTry + 4_500 - Date.now());
    marathon.addApp(app('limited.example.test'));
    await eventually('limited.example.test issued', async () => (await issuedBy('limited.example.test')) !== undefined, 60_000);
    assert.equal(await issuedBy('limited.example.test'), second.directoryUrl);
    assert.deepEqual(ordersFor(primary, 'limited.example.test').map((o) => o.status), [429], 'one order at the primary, answered with the rate limit');
    const limitedGap = (second.orderTimes.at(-1) ?? 0) - (primary.orderTimes.at(-1) ?? 0);
    t.diagnostic(`rate limited at the primary, ordered at the second CA ${limitedGap} ms later`);
    assert.ok(limitedGap < 30_000, "the primary's Retry-After of a day did not hold the name");
    assert.equal((await stateOf(storage))?.cas[0]?.downSince, null, 'a rate limit is an answer: the primary is up');

    // 3. The primary is well again: a renewal goes back to it, without naming a certificate it never issued.
    primary.clearFaults();
    const renewed = await run(BIN, ['renew', 'outage.example.test', '--storage-dir', storage, '--wait', '60'], { env: { PATH: process.env['PATH'] } });
    assert.match(renewed.stdout, /^renewed {2}outage\.example\.test/m);
    assert.equal(await issuedBy('outage.example.test'), primary.directoryUrl);
    assert.equal((await leafOf(storage, 'outage.example.test'))?.issuer, primaryIssuer);
    const renewalOrder = ordersFor(primary, 'outage.example.test').at(-1);
    assert.deepEqual([renewalOrder?.status, renewalOrder?.replaces], [201, undefined]);

    // HAProxy loads the bundles of both CAs side by side.
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);

    // 4. A validation failure at the primary (nothing answers on the port it validates) stays there.
    await validationRoute.stop();
    routeStopped = true;
    marathon.addApp(app('broken.example.test'));
    await eventually('broken.example.test failed', async () => (await stateOf(storage))?.certificates['broken.example.test']?.failure !== undefined, 60_000);
    const failure = (await stateOf(storage))?.certificates['broken.example.test']?.failure;
    assert.deepEqual([failure?.kind, failure?.directory], ['validation', primary.directoryUrl]);
    await sleep(2_500);
    assert.deepEqual(ordersFor(second, 'broken.example.test'), [], 'no order at the second CA: it would fail the same way');

    // 5. A restart keeps each CA's account: the key files stay, and the CAs find the accounts again.
    await daemon.terminate();
    primary.failNext('/order-plz', 100_000, 429, 'rateLimited', 86_400);
    daemon = spawnDaemon(defer, daemonPort, args);
    marathon.addApp(app('after.example.test'));
    await eventually('after.example.test issued', async () => (await issuedBy('after.example.test')) !== undefined, 60_000);
    assert.equal(await issuedBy('after.example.test'), second.directoryUrl);
    assert.equal(createHash('sha256').update(await readFile(secondKeyFile)).digest('hex'), secondKey, "the second CA's account key was kept");
    const ready = daemon.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; acme?: string; created?: boolean }).filter((l) => l.msg === 'ACME account ready');
    assert.deepEqual(ready.map((r) => [r.acme, r.created]), [[primary.directoryUrl, false], [second.directoryUrl, false]], 'no account made anew after the restart');
    await daemon.terminate();

    // 6. `revoke` of a certificate the second CA issued goes to that CA, with that CA's account key.
    const revoked = await run(BIN, ['revoke', 'limited.example.test', '--storage-dir', storage, '--acme', primary.directoryUrl, '--acme-ca-file', primaryPebble.caFile, '--lb', lb.url], { env: { PATH: process.env['PATH'] } });
    assert.match(revoked.stdout, /^revoked +limited\.example\.test/m);
    assert.equal(second.requestsByMethod.get('POST /revoke-cert'), 1);
    assert.equal(primary.requestsByMethod.get('POST /revoke-cert'), undefined);
  });
});
