/**
 * The primary CA gone entirely while a second CA is listed: no connection at all from the start, so
 * not even the account can be registered there. Two pebbles (each its own root), the primary behind
 * the fault-injecting proxy; the daemon in-process with `--fallback-after 2`.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveRateLimits } from '../../src/acme/rate-limits.js';
import type { CaSettings } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { faultCase } from '../support/fault-report.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { memoryLogger } from '../support/memory-logger.js';
import { pebbleTls, startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const FALLBACK_AFTER_MS = 2_000;

function ca(directoryUrl: string, caFile: string): CaSettings {
  return { directoryUrl, caFile, keyType: 'ecdsa-p256', eab: undefined, profile: undefined, preferredChain: undefined, rateLimits: resolveRateLimits(undefined, directoryUrl) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

describe('CA faults with a second CA listed', () => {
  it('issues from the second CA while the primary cannot be reached at all, and goes back to the primary once it answers', async (t) => {
    const rec = faultCase(t, { area: 'CA', fault: 'primary CA unreachable from the start (every connection reset), a second CA listed', tried: '3 apps, --fallback-after 2 s; then the primary back and 2 more apps' });
    const defer = cleanupStack(t);
    const httpPort = await freePort();
    const primaryPebble = await startPebble({ httpPort });
    defer(() => primaryPebble.stop());
    const secondPebble = await startPebble({ httpPort });
    defer(() => secondPebble.stop());
    const caPem = (await pebbleTls()).caPem;
    const primary = await AcmeProxy.start({ upstream: primaryPebble.directoryUrl, caPem });
    defer(() => primary.stop());
    primary.setMode('refuse');
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    const app = (name: string) => hostApp(`/${name.split('.')[0] ?? name}`, { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name });
    for (const name of ['one.example.test', 'two.example.test', 'three.example.test']) marathon.addApp(app(name));
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const storage = await mkdtemp(join(tmpdir(), 'ma-cafallback-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: primary.directoryUrl,
      acmeCaFile: primaryPebble.caFile,
      cas: [ca(primary.directoryUrl, primaryPebble.caFile), ca(secondPebble.directoryUrl, secondPebble.caFile)],
      fallbackAfterMs: FALLBACK_AFTER_MS,
      marathonUrls: [marathon.url],
      lbUrls: [lb.url],
      listen: { host: '127.0.0.1', port: httpPort },
      keyType: 'ecdsa-p256',
    });
    const { logger, lines } = memoryLogger();
    const daemon = new Daemon({ config, logger });
    const started = Date.now();
    await daemon.start();
    defer(() => daemon.stop(1_000));

    const issuer = async (name: string): Promise<string | undefined> => {
      const text = await readFile(join(storage, 'certs', `${name}.pem`), 'utf8').catch(() => undefined);
      const pem = text === undefined ? undefined : /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
      return pem === undefined ? undefined : new X509Certificate(pem).issuer;
    };
    const primaryIssuer = new X509Certificate(await primaryPebble.intermediatePem()).subject;
    const secondIssuer = new X509Certificate(await secondPebble.intermediatePem()).subject;
    const names = ['one.example.test', 'two.example.test', 'three.example.test'];
    await eventually('three certificates from the second CA', async () => (await Promise.all(names.map(issuer))).every((i) => i !== undefined), 60_000);
    const firstThree = Date.now() - started;
    assert.deepEqual(await Promise.all(names.map(issuer)), [secondIssuer, secondIssuer, secondIssuer]);
    assert.ok(firstThree >= FALLBACK_AFTER_MS, 'not before the primary had been unreachable for --fallback-after');
    assert.ok(lines.some((l) => l.msg.startsWith('the primary CA has been unavailable for --fallback-after')), 'the log says why ordering started elsewhere');
    const primaryOrders = () => [...primary.orders];
    assert.equal(primaryOrders().length, 0, 'the primary never got an order: it could not be reached');
    rec.observe(`3/3 certificates from the second CA ${(firstThree / 1000).toFixed(1)} s after start; ${primary.refusedConnections.length} connections to the primary reset meanwhile`);

    primary.setMode('up');
    const upAt = Date.now();
    // The primary counts as down until an order tests it, one --fallback-after after its last failure.
    await sleep(2 * FALLBACK_AFTER_MS + 500);
    marathon.addApp(app('four.example.test'));
    await eventually('four.example.test issued', async () => (await issuer('four.example.test')) !== undefined, 60_000);
    marathon.addApp(app('five.example.test'));
    await eventually('five.example.test issued', async () => (await issuer('five.example.test')) !== undefined, 60_000);
    assert.deepEqual([await issuer('four.example.test'), await issuer('five.example.test')], [primaryIssuer, primaryIssuer]);
    // Pebble rejects a share of nonces (badNonce, 400), which the client answers by sending again.
    const created = primaryOrders().filter((o) => o.status === 201).map((o) => o.identifiers.join());
    assert.deepEqual(created, ['four.example.test', 'five.example.test'], JSON.stringify(primaryOrders()));
    assert.ok(primaryOrders().every((o) => o.status === 201 || o.status === 400), JSON.stringify(primaryOrders()));
    rec.observe(`primary back: the next 2 names issued by the primary, the last ${((Date.now() - upAt) / 1000).toFixed(1)} s after it answered again; ${created.length} orders created there`);
  });
});
