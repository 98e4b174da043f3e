/**
 * The delivery check against real TLS listeners (node:tls servers standing in for marathon-lb's
 * HAProxy :443, loading the storage directory's certs/ like HAProxy and reloading it when their
 * marathon-lb stand-in receives a USR1) and the marathon-lb HTTP stand-in (lb-receiver).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createSecureContext, createServer, type SecureContext, type Server } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { Agent } from 'undici';
import { formatBundle, parseBundle } from '../../src/certs/bundle.js';
import { CertStore } from '../../src/certs/store.js';
import { DeliveryController } from '../../src/delivery/controller.js';
import { readDeliveryFile } from '../../src/delivery/delivery-file.js';
import { normaliseFingerprint, probeServedLeaf } from '../../src/delivery/probe.js';
import type { StoredLeaf } from '../../src/delivery/verdict.js';
import { LbSignaller } from '../../src/lb/marathon-lb.js';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/util/clock.js';
import { cleanupStack } from '../support/cleanup.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver, type LbReceiver } from '../support/lb-receiver.js';
import { memoryLogger } from '../support/memory-logger.js';
import { freePort } from '../support/ports.js';

// Node's webcrypto and the DOM's Crypto type describe the same object; the library is typed with the latter.
const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);
const EC: EcKeyGenParams & EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A self-signed ECDSA leaf for `names`, as the bundle text the daemon would store. */
async function makeBundle(names: string[], notBefore: Date): Promise<{ text: string; certPem: string; keyPem: string }> {
  const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `7f${randomBytes(8).toString('hex')}`,
    name: `CN=${names[0] ?? 'x'}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 30 * 86_400_000),
    keys,
    signingAlgorithm: EC,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })))],
  });
  const keyPem = createPrivateKey({ key: Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' });
  const certPem = cert.toString('pem');
  return { text: formatBundle(keyPem, certPem), certPem, keyPem };
}

interface TlsLb {
  port: number;
  /** Reloads the files on each new USR1 the receiver got, unless broken. */
  broken: boolean;
  reloads: number;
  stop(): Promise<void>;
}

/** HAProxy's view of `<storage>/default.pem` + `<storage>/certs`: SNI picks a certificate by its names. */
async function startTlsLb(storage: string, receiver: LbReceiver): Promise<TlsLb> {
  let contexts = new Map<string, SecureContext>();
  let fallback: SecureContext | undefined;
  let seen = -1;
  const load = async (): Promise<void> => {
    const next = new Map<string, SecureContext>();
    for (const file of (await readdir(join(storage, 'certs'))).sort()) {
      const parsed = parseBundle(await readFile(join(storage, 'certs', file), 'utf8'));
      if (!parsed.ok) continue;
      const context = createSecureContext({ key: parsed.bundle.keyPem, cert: [parsed.bundle.leafPem, ...parsed.bundle.chainPems].join('') });
      for (const name of parsed.bundle.leaf.names) if (!next.has(name)) next.set(name, context);
    }
    const dflt = parseBundle(await readFile(join(storage, 'default.pem'), 'utf8'));
    if (dflt.ok) fallback = createSecureContext({ key: dflt.bundle.keyPem, cert: dflt.bundle.leafPem });
    contexts = next;
  };
  await load();
  seen = receiver.usr1;
  const lb: TlsLb = {
    port: 0,
    broken: false,
    reloads: 0,
    stop: () => Promise.resolve(),
  };
  const server: Server = createServer({
    SNICallback: (servername, cb) => {
      const answer = (): void => {
        cb(null, contexts.get(servername.toLowerCase()) ?? fallback);
      };
      if (lb.broken || receiver.usr1 === seen) {
        answer();
        return;
      }
      seen = receiver.usr1;
      lb.reloads++;
      load().then(answer, (err: unknown) => {
        cb(err instanceof Error ? err : new Error(String(err)));
      });
    },
  });
  // Without SNI (or before the callback) the handshake needs a certificate too: default.pem's.
  const dflt = parseBundle(await readFile(join(storage, 'default.pem'), 'utf8'));
  assert.ok(dflt.ok);
  server.setSecureContext({ key: dflt.bundle.keyPem, cert: dflt.bundle.leafPem });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address !== 'string');
  lb.port = address.port;
  lb.stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => {
        resolve();
      });
    });
  return lb;
}

async function storageDir(defer: (fn: () => Promise<unknown>) => void): Promise<{ storage: string; store: CertStore; defaultFingerprint: string }> {
  const storage = await mkdtemp(join(tmpdir(), 'ma-delivery-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const store = new CertStore(storage);
  await store.init(new Date());
  const dflt = parseBundle(await readFile(join(storage, 'default.pem'), 'utf8'));
  assert.ok(dflt.ok);
  return { storage, store, defaultFingerprint: dflt.bundle.leaf.fingerprint256 };
}

describe('probeServedLeaf', () => {
  it('reads the leaf the server picks by SNI, and the fallback for an unknown name', async (t) => {
    const defer = cleanupStack(t);
    const { storage, store, defaultFingerprint } = await storageDir(defer);
    const bundle = await makeBundle(['www.example.test', 'example.test'], new Date(Date.now() - 60_000));
    await store.write('www.example.test', bundle.text);
    const receiver = await startLbReceiver();
    defer(() => receiver.stop());
    const tls = await startTlsLb(storage, receiver);
    defer(() => tls.stop());
    const expected = new X509Certificate(bundle.certPem);
    const probe = await probeServedLeaf({ host: '127.0.0.1', port: tls.port, servername: 'www.example.test', timeoutMs: 5_000 });
    assert.ok(probe.ok, probe.ok ? '' : probe.error);
    assert.equal(probe.leaf.fingerprint256, normaliseFingerprint(expected.fingerprint256));
    assert.match(probe.leaf.fingerprint256, /^[0-9a-f]{64}$/);
    assert.deepEqual(probe.leaf.names, ['www.example.test', 'example.test']);
    assert.equal(probe.leaf.serialHex, expected.serialNumber.toLowerCase());
    assert.equal(probe.leaf.notBefore, new Date(expected.validFrom).getTime());
    const unknown = await probeServedLeaf({ host: '127.0.0.1', port: tls.port, servername: 'nobody.example.test', timeoutMs: 5_000 });
    assert.ok(unknown.ok);
    assert.equal(unknown.leaf.fingerprint256, normaliseFingerprint(defaultFingerprint));
  });

  it('reports a refused port, a listener that never speaks TLS (bounded by the timeout) and a cancelled probe, without throwing', async (t) => {
    const refusedPort = await freePort();
    const refused = await probeServedLeaf({ host: '127.0.0.1', port: refusedPort, servername: 'a.test', timeoutMs: 5_000 });
    assert.ok(!refused.ok);
    assert.match(refused.error, /connection to 127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);

    const sockets = new Set<Socket>();
    const silent: TcpServer = createTcpServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      silent.close(() => {
        resolve();
      });
    }));
    const address = silent.address();
    assert.ok(address !== null && typeof address !== 'string');
    const started = Date.now();
    const mute = await probeServedLeaf({ host: '127.0.0.1', port: address.port, servername: 'a.test', timeoutMs: 300 });
    assert.ok(!mute.ok);
    assert.match(mute.error, /no TLS handshake with 127\.0\.0\.1:\d+ within 300 ms/);
    t.diagnostic(`a silent listener cost ${Date.now() - started} ms with a 300 ms timeout`);

    const abort = new AbortController();
    const pending = probeServedLeaf({ host: '127.0.0.1', port: address.port, servername: 'a.test', timeoutMs: 30_000, signal: abort.signal });
    abort.abort();
    const cancelled = await pending;
    assert.ok(!cancelled.ok);
    assert.match(cancelled.error, /cancelled/);
  });
});

describe('delivery controller against TLS listeners', () => {
  it('reports a new certificate served on every LB; an LB that never reloads is signalled again, then stale and failing', async (t) => {
    const defer = cleanupStack(t);
    const { storage, store, defaultFingerprint } = await storageDir(defer);
    const receivers = await Promise.all([startLbReceiver(), startLbReceiver()]);
    for (const r of receivers) defer(() => r.stop());
    const tlsLbs = await Promise.all(receivers.map((r) => startTlsLb(storage, r)));
    for (const l of tlsLbs) defer(() => l.stop());
    const [good, broken] = tlsLbs;
    assert.ok(good !== undefined && broken !== undefined);
    const expected = new Map<string, StoredLeaf>();
    const write = async (name: string, notBefore: Date): Promise<void> => {
      const bundle = await makeBundle([name], notBefore);
      await store.write(name, bundle.text);
      const parsed = parseBundle(bundle.text);
      assert.ok(parsed.ok);
      expected.set(name, { fingerprint256: parsed.bundle.leaf.fingerprint256, notBefore: parsed.bundle.leaf.notBefore.getTime(), names: parsed.bundle.leaf.names });
    };
    const dispatcher = new Agent();
    defer(() => dispatcher.destroy());
    const { logger, lines } = memoryLogger();
    const ports = new Map(receivers.map((r, i) => [r.url, tlsLbs[i]?.port ?? 0]));
    const controller = new DeliveryController({
      lbUrls: receivers.map((r) => r.url),
      checkPort: 443,
      checkIntervalMs: 3_600_000,
      dispatcher,
      clock: systemClock,
      logger,
      expected: () => expected,
      defaultFingerprint: () => defaultFingerprint,
      store,
      tlsTarget: (lb) => ({ host: '127.0.0.1', port: ports.get(lb.display) ?? 0 }),
      timing: { graceMs: 3_000, firstWaitMs: 400, maxWaitMs: 800, healthStableMs: 200, healthPollMs: 50, minIntervalMs: 100, fileWriteIntervalMs: 100 },
    });
    defer(() => controller.stop());
    const [goodUrl, brokenUrl] = receivers.map((r) => r.url);

    const first = Date.now();
    await write('one.example.test', new Date(first - 120_000));
    controller.changed(['one.example.test'], 'new one.example.test');
    await controller.settled();
    const served = controller.records();
    assert.deepEqual(served.map((r) => [r.lb, r.name, r.status, r.failing]), [
      [goodUrl, 'one.example.test', 'served', false],
      [brokenUrl, 'one.example.test', 'served', false],
    ]);
    t.diagnostic(`first certificate served on both LBs ${Date.now() - first} ms after the change`);
    assert.deepEqual(receivers.map((r) => r.usr1), [1, 1]);

    broken.broken = true;
    await write('one.example.test', new Date(first - 60_000));
    controller.changed(['one.example.test'], 'renewed one.example.test');
    await controller.settled();
    const records = controller.records();
    const onBroken = records.find((r) => r.lb === brokenUrl);
    assert.equal(records.find((r) => r.lb === goodUrl)?.status, 'served');
    assert.equal(onBroken?.status, 'stale');
    assert.equal(onBroken.failing, true);
    assert.ok(onBroken.lastServedAt !== undefined, 'the time the previous certificate was last seen right is kept');
    const [goodReceiver, brokenReceiver] = receivers;
    assert.equal(goodReceiver.usr1, 2, 'the good LB got one signal per change');
    assert.ok(brokenReceiver.usr1 >= 3, `the broken LB was signalled again (${brokenReceiver.usr1})`);
    assert.ok(lines.some((l) => l.msg.startsWith('delivery failure') && l['lb'] === brokenUrl && l['domain'] === 'one.example.test'));
    const summaries = controller.lbSummaries();
    assert.deepEqual(summaries.map((s) => [s.level, s.served, s.stale, s.failing]), [['ok', 1, 0, 0], ['bad', 0, 1, 1]]);

    await controller.stop();
    const file = await readDeliveryFile(storage);
    assert.equal(file?.checkPort, 443);
    assert.deepEqual(file.records.map((r) => [r.lb, r.status, r.failing]), [[goodUrl, 'served', false], [brokenUrl, 'stale', true]]);
  });

  it('with the check off, confirms reloads by HAProxy pids over HTTP and gates on the health endpoint', async (t) => {
    const defer = cleanupStack(t);
    const dispatcher = new Agent();
    defer(() => dispatcher.destroy());
    const reloading = await startLbReceiver({ pids: 'reload', healthStatus: 503 });
    const frozen = await startLbReceiver({ pids: 'frozen', healthStatus: 200 });
    defer(() => reloading.stop());
    defer(() => frozen.stop());
    const signaller = new LbSignaller({
      urls: [reloading.url, frozen.url],
      dispatcher,
      clock: systemClock,
      logger: silentLogger(),
      backoff: { baseMs: 50, capMs: 200 },
      timeoutMs: 2_000,
      timing: { healthStableMs: 300, healthPollMs: 50, healthDownMaxMs: 100, firstWaitMs: 300, maxWaitMs: 300, graceMs: 1_000, pidPollMs: 50 },
    });
    defer(async () => { signaller.stop(); await signaller.settled(); });
    signaller.signalAll('test', ['a.test']);
    await eventually('the frozen LB was signalled', () => frozen.usr1 >= 1);
    assert.equal(reloading.usr1, 0, 'an LB whose health endpoint answers 503 is not signalled');
    reloading.setHealthStatus(200);
    await signaller.settled();
    assert.equal(reloading.usr1, 1, 'a reload showed as a new pid: one signal');
    assert.ok(frozen.usr1 >= 2, `no new pid: the signal was sent again (${frozen.usr1})`);
    assert.equal(signaller.state(frozen.url)?.undelivered, true);
    const firstSignal = reloading.requests.findIndex((r) => r.path === '/_mlb_signal/usr1');
    const healthAnswers = reloading.requests.slice(0, firstSignal).filter((r) => r.path === '/_haproxy_health_check').length;
    assert.ok(healthAnswers >= 3, `health was polled before the first signal (${healthAnswers} looks)`);
  });
});
