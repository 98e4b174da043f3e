/**
 * The daemon end to end against real peers: Debian's pebble as the CA (validating our HTTP-01 answers
 * through a DNS stub), Debian's haproxy checking the storage directory, the Marathon emulator, and two
 * marathon-lb signal receivers. Each test builds its own daemon and storage directory.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { parseBundle } from '../../src/certs/bundle.js';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { OffsetClock, type Clock } from '../../src/util/clock.js';
import { eventually } from '../support/eventually.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { haproxyCheck } from '../support/haproxy.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator, type EmulatorOptions } from '../support/marathon-emulator.js';
import { startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const exec = promisify(execFile);

/** Set MARATHON_ACME_TEST_LOGS=1 to see the daemon's own log lines while debugging a test. */
function testLogger() {
  return process.env['MARATHON_ACME_TEST_LOGS'] === '1' ? createLogger('debug', process.stderr) : silentLogger();
}

async function certFiles(storage: string): Promise<string[]> {
  return (await readdir(join(storage, 'certs'))).sort();
}

describe('daemon against pebble, haproxy and the Marathon emulator', () => {
  let pebble: Pebble;
  let httpPort = 0;

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort, validitySeconds: 3600 });
  });
  after(() => pebble.stop());

  async function setup(t: TestContext, options: {
    apps?: object[];
    marathonUrls?: (emulatorUrl: string) => string[];
    storage?: string;
    clock?: Clock;
    startDaemon?: boolean;
    emulatorDown?: boolean;
    emulatorOptions?: EmulatorOptions;
    overrides?: Partial<Config>;
  } = {}) {
    const defer = cleanupStack(t);
    const emulator = await MarathonEmulator.start({ heartbeatMs: 0, ...options.emulatorOptions });
    defer(() => emulator.stop());
    for (const app of options.apps ?? []) emulator.addApp(app);
    if (options.emulatorDown === true) await emulator.setMode('down');
    const lb1 = await startLbReceiver();
    const lb2 = await startLbReceiver();
    defer(() => lb1.stop());
    defer(() => lb2.stop());
    const storage = options.storage ?? (await mkdtemp(join(tmpdir(), 'ma-daemon-')));
    defer(() => rm(storage, { recursive: true, force: true }));
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: pebble.directoryUrl,
      email: 'ops@example.test',
      marathonUrls: options.marathonUrls?.(emulator.url) ?? [emulator.url],
      lbUrls: [lb1.url, lb2.url],
      listen: { host: '127.0.0.1', port: httpPort },
      acmeCaFile: pebble.caFile,
      ...options.overrides,
    });
    const daemon = new Daemon({ config, logger: testLogger(), ...(options.clock === undefined ? {} : { clock: options.clock }) });
    if (options.startDaemon !== false) await daemon.start();
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      await daemon.stop(1_000);
    };
    defer(stop);
    return { emulator, lb1, lb2, storage, daemon, stop, config };
  }

  /** `/health` (liveness) or `/ready` (readiness): the status code and the JSON body. */
  async function probe(port: number, path: '/health' | '/ready' = '/ready'): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await request(`http://127.0.0.1:${port}${path}`);
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  async function assertValidBundle(storage: string, file: string, name: string): Promise<void> {
    const text = await readFile(join(storage, 'certs', file), 'utf8');
    const parsed = parseBundle(text);
    assert.ok(parsed.ok, `${file}: ${parsed.ok ? '' : parsed.reason}`);
    const { bundle } = parsed;
    assert.match(text, /^-----BEGIN (RSA )?PRIVATE KEY-----/, 'the key comes first');
    assert.deepEqual(bundle.leaf.names, [name]);
    assert.ok(bundle.chainPems.length >= 1, 'the chain follows the leaf');
    // Walk leaf → intermediates → pebble's root: each certificate is signed by the next.
    const chain = [bundle.leafPem, ...bundle.chainPems].map((pem) => new X509Certificate(pem));
    const root = new X509Certificate(await pebble.rootPem());
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i];
      const issuer = chain[i + 1] ?? root;
      assert.ok(cert?.verify(issuer.publicKey), `${file}: certificate ${i} is signed by the next one up to pebble's root`);
    }
  }

  it('gives exactly the three external apps a certificate that haproxy loads, and signals every LB after the writes', async (t) => {
    const apps = [
      hostApp('/web', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'web.example.test' }),
      hostApp('/api', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'API.example.test.' }),
      hostApp('/shop', { HAPROXY_0_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test, extra.example.test' }),
      hostApp('/intranet', { HAPROXY_GROUP: 'internal', MARATHON_ACME_0_DOMAIN: 'intranet.example.test' }),
    ];
    const { storage, daemon, lb1, lb2 } = await setup(t, { apps });
    await eventually('three certificates', async () => (await certFiles(storage)).length === 3);
    await daemon.whenIdle();
    await daemon.lbSettled();
    assert.deepEqual(await certFiles(storage), ['api.example.test.pem', 'shop.example.test.pem', 'web.example.test.pem']);
    await assertValidBundle(storage, 'web.example.test.pem', 'web.example.test');
    await assertValidBundle(storage, 'api.example.test.pem', 'api.example.test');
    await assertValidBundle(storage, 'shop.example.test.pem', 'shop.example.test');
    // Each write is signalled soon after it lands, bursts coalesced (at most one signal per LB per
    // second plus one for what came meanwhile): never more signals than writes, and the last one after
    // the last write, so every LB reloads with all three files.
    const lastWrite = Math.max(...(await Promise.all((await certFiles(storage)).map(async (f) => (await stat(join(storage, 'certs', f))).mtimeMs))));
    for (const lb of [lb1, lb2]) {
      assert.ok(lb.usr1 >= 1 && lb.usr1 <= 3, `${lb.usr1} signals for 3 writes`);
      assert.ok((lb.usr1Times.at(-1) ?? 0) >= Math.floor(lastWrite), 'the last signal follows the last write');
    }
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);
    const entries = (await readdir(storage)).sort();
    for (const expected of ['certs', 'client.key', 'default.pem', 'unmanaged-certs']) assert.ok(entries.includes(expected), expected);
    const health = await probe(daemon.port);
    assert.equal(health.status, 200, JSON.stringify(health.body));
  });

  it('issues for an app added later, on its api_post_event, and signals again', async (t) => {
    const { storage, daemon, emulator, lb1 } = await setup(t, {
      apps: [hostApp('/one', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'one.example.test' })],
    });
    await eventually('first certificate', async () => (await certFiles(storage)).length === 1);
    await daemon.whenIdle();
    await daemon.lbSettled();
    const signalsBefore = lb1.usr1;
    const requestsBefore = emulator.appsRequests;
    emulator.addApp(hostApp('/two', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'two.example.test' }));
    await eventually('second certificate', async () => (await certFiles(storage)).includes('two.example.test.pem'), 15_000);
    await daemon.whenIdle();
    await daemon.lbSettled();
    assert.ok(emulator.appsRequests > requestsBefore, 'the event triggered a sync');
    assert.equal(lb1.usr1, signalsBefore + 1);
  });

  it('reconnects a dropped event stream and resyncs, catching changes that sent no event', async (t) => {
    const { storage, daemon, emulator } = await setup(t, {
      apps: [hostApp('/one', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'drop1.example.test' })],
    });
    await eventually('first certificate', async () => (await certFiles(storage)).length === 1);
    await daemon.whenIdle();
    const streamsBefore = emulator.eventStreamRequests;
    emulator.replaceAppsSilently([
      hostApp('/one', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'drop1.example.test' }),
      hostApp('/group-deployed', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'drop2.example.test' }),
    ]);
    emulator.dropStreams();
    await eventually('a new event stream', () => emulator.eventStreamRequests > streamsBefore && emulator.openStreams === 1, 15_000);
    await eventually('the certificate of the silently added app', async () => (await certFiles(storage)).includes('drop2.example.test.pem'), 15_000);
  });

  it('fails over to the second Marathon when the first is dead', async (t) => {
    const deadPort = await freePort();
    const { storage, emulator } = await setup(t, {
      apps: [hostApp('/fo', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'failover.example.test' })],
      marathonUrls: (url) => [`http://127.0.0.1:${deadPort}`, url],
    });
    await eventually('certificate through the second Marathon', async () => (await certFiles(storage)).length === 1);
    assert.ok(emulator.appsRequests >= 1);
  });

  it('waits while Marathon is down at start, alive but not ready, and catches up when it returns', async (t) => {
    const { storage, daemon, emulator } = await setup(t, {
      apps: [hostApp('/late', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'late.example.test' })],
      emulatorDown: true,
    });
    await eventually('account registered', async () => (await probe(daemon.port)).body['accountReady'] === true);
    const down = await probe(daemon.port);
    assert.equal(down.status, 503);
    assert.match(JSON.stringify(down.body['problems']), /sync with Marathon/);
    const alive = await probe(daemon.port, '/health');
    assert.equal(alive.status, 200, 'alive all the same: a restart would not bring Marathon back');
    assert.equal(alive.body['ready'], false);
    assert.match(JSON.stringify(alive.body['problems']), /sync with Marathon/);
    assert.deepEqual(await certFiles(storage), []);
    await emulator.setMode('up');
    await eventually('certificate after Marathon came back', async () => (await certFiles(storage)).length === 1, 30_000);
    await daemon.whenIdle();
    assert.equal((await probe(daemon.port)).status, 200);
  });

  it('talks to a Marathon behind a path prefix with Basic auth from the URL', async (t) => {
    const { storage, emulator } = await setup(t, {
      apps: [hostApp('/auth', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'auth.example.test' })],
      emulatorOptions: { basicAuth: { user: 'acme', password: 'p@ss:word' }, basePath: '/marathon' },
      marathonUrls: (url) => [url.replace('http://', 'http://acme:p%40ss%3Aword@')],
    });
    await eventually('certificate through the authenticated Marathon', async () => (await certFiles(storage)).length === 1);
    const paths = emulator.requests.map((r) => r.path);
    assert.ok(paths.some((p) => p.startsWith('/marathon/v2/apps')), paths.join(' '));
    assert.ok(paths.some((p) => p.startsWith('/marathon/v2/events?')), paths.join(' '));
  });

  it('picks up changes that emit no event at the next periodic sync', async (t) => {
    const { storage, daemon, emulator } = await setup(t, {
      apps: [hostApp('/p1', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'periodic1.example.test' })],
      overrides: { syncIntervalMs: 500 },
    });
    await eventually('first certificate', async () => (await certFiles(storage)).length === 1);
    await daemon.whenIdle();
    const streams = emulator.eventStreamRequests;
    emulator.replaceAppsSilently([
      hostApp('/p1', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'periodic1.example.test' }),
      hostApp('/p2', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'periodic2.example.test' }),
    ]);
    await eventually('certificate from the periodic sync', async () => (await certFiles(storage)).includes('periodic2.example.test.pem'), 15_000);
    assert.equal(emulator.eventStreamRequests, streams, 'no reconnect was needed');
  });

  it('remembers a failed validation across a restart and waits out the backoff before ordering again', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-backoff-'));
    t.after(() => rm(storage, { recursive: true, force: true }));
    const apps = [hostApp('/unreachable', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'backoff.example.test' })];
    const statePath = join(storage, 'state.json');
    const readState = async () => JSON.parse(await readFile(statePath, 'utf8').catch(() => '{"certificates":{}}')) as {
      certificates: Record<string, { failure?: { failures: number; lastError: { type: string | null } } }>;
    };
    // First run: the daemon listens where pebble's validator does not look, so validation fails.
    const first = await setup(t, { storage, apps, overrides: { listen: { host: '127.0.0.1', port: await freePort() } } });
    await eventually('the failure is recorded', async () => (await readState()).certificates['backoff.example.test']?.failure?.failures === 1);
    assert.equal((await readState()).certificates['backoff.example.test']?.failure?.lastError.type, 'connection');
    await first.stop();

    // Second run, reachable now, within the one-minute backoff: nothing is ordered.
    const clock = new OffsetClock();
    const second = await setup(t, { storage, apps, clock });
    await eventually('a sync', async () => (await probe(second.daemon.port)).status === 200);
    await second.daemon.whenIdle();
    assert.deepEqual(await certFiles(storage), []);
    assert.equal((await readState()).certificates['backoff.example.test']?.failure?.failures, 1, 'not retried during the backoff');

    clock.advance(61_000);
    second.daemon.requestSync('test: backoff over');
    await eventually('the certificate after the backoff', async () => (await certFiles(storage)).length === 1);
    await second.daemon.whenIdle();
    assert.equal((await readState()).certificates['backoff.example.test']?.failure, undefined, 'success clears the failure');
  });

  it('in san mode gives an app port one certificate covering all its names', async (t) => {
    const { storage, daemon } = await setup(t, {
      apps: [hostApp('/san', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'san1.example.test, www.san1.example.test san2.example.test' })],
      overrides: { multipleDomains: 'san' },
    });
    await eventually('the certificate', async () => (await certFiles(storage)).length === 1);
    await daemon.whenIdle();
    assert.deepEqual(await certFiles(storage), ['san1.example.test.pem']);
    const parsed = parseBundle(await readFile(join(storage, 'certs', 'san1.example.test.pem'), 'utf8'));
    assert.ok(parsed.ok);
    assert.deepEqual([...parsed.bundle.leaf.names].sort(), ['san1.example.test', 'san2.example.test', 'www.san1.example.test']);
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);
  });

  it('retires the certificate of a deleted app after the grace period and tells marathon-lb', async (t) => {
    const clock = new OffsetClock();
    const { storage, daemon, emulator, lb1 } = await setup(t, {
      clock,
      apps: [
        hostApp('/stays', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'stays.example.test' }),
        hostApp('/goes', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'goes.example.test' }),
      ],
    });
    await eventually('two certificates', async () => (await certFiles(storage)).length === 2);
    await daemon.whenIdle();
    await daemon.lbSettled();
    const signals = lb1.usr1;
    emulator.removeApp('/goes');
    daemon.requestSync('test: app deleted');
    await daemon.whenIdle();
    clock.advance(7 * 86_400_000 - 60_000);
    daemon.requestSync('test: within the grace period');
    await daemon.whenIdle();
    assert.deepEqual(await certFiles(storage), ['goes.example.test.pem', 'stays.example.test.pem']);
    clock.advance(60_000);
    daemon.requestSync('test: grace period over');
    await daemon.whenIdle();
    await daemon.lbSettled();
    assert.deepEqual(await certFiles(storage), ['stays.example.test.pem']);
    assert.deepEqual(await readdir(join(storage, 'retired-certs')), ['goes.example.test.pem']);
    assert.equal(lb1.usr1, signals + 1, 'marathon-lb reloads without the retired certificate');
  });

  it('adopts a storage directory written by the original without re-issuing', async (t) => {
    const storage = await mkdtemp(join(tmpdir(), 'ma-adopt-'));
    await mkdir(join(storage, 'certs'));
    await mkdir(join(storage, 'unmanaged-certs'));
    // The original wrote an RSA PKCS#1 account key and bundles of PKCS#1 key + leaf + chain.
    await exec('openssl', ['genrsa', '-traditional', '-out', join(storage, 'client.key'), '2048']);
    const accountKey = await readFile(join(storage, 'client.key'), 'utf8');
    const bundle = await makeOriginalStyleBundle(storage, 'old.example.test');
    await writeFile(join(storage, 'certs', 'old.example.test.pem'), bundle);
    const { daemon, emulator, lb1, lb2 } = await setup(t, {
      storage,
      apps: [hostApp('/old', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'old.example.test' })],
    });
    await eventually('a completed sync', async () => (await probe(daemon.port)).status === 200);
    await daemon.whenIdle();
    assert.equal(await readFile(join(storage, 'certs', 'old.example.test.pem'), 'utf8'), bundle, 'certificate kept as is');
    assert.equal(await readFile(join(storage, 'client.key'), 'utf8'), accountKey, 'account key reused');
    assert.equal(lb1.usr1 + lb2.usr1, 0, 'nothing changed, nothing signalled');
    assert.ok(emulator.appsRequests >= 1);
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);
  });

  it('renews a certificate once a third of its lifetime is left, driven by the clock', async (t) => {
    const clock = new OffsetClock();
    const { storage, daemon, lb1 } = await setup(t, {
      clock,
      apps: [hostApp('/renew', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'renew.example.test' })],
    });
    const file = join(storage, 'certs', 'renew.example.test.pem');
    await eventually('first certificate', async () => (await certFiles(storage)).length === 1);
    await daemon.whenIdle();
    await daemon.lbSettled();
    const first = await readFile(file, 'utf8');
    const firstSerial = new X509Certificate(first).serialNumber;
    const signals = lb1.usr1;

    daemon.requestRenewalCheck('test: not due yet');
    await daemon.whenIdle();
    assert.equal(await readFile(file, 'utf8'), first, 'a fresh certificate is left alone');

    clock.advance(41 * 60_000); // pebble issues for 60 minutes: 41 minutes in, less than a third is left
    daemon.requestRenewalCheck('test: due');
    await daemon.whenIdle();
    await daemon.lbSettled();
    const second = await readFile(file, 'utf8');
    assert.notEqual(new X509Certificate(second).serialNumber, firstSerial, 'a new certificate was stored');
    assert.ok(parseBundle(second).ok);
    assert.equal(lb1.usr1, signals + 1);
  });
});

/** A bundle like the original wrote: PKCS#1 key, leaf for `name`, then the CA that signed it. */
async function makeOriginalStyleBundle(dir: string, name: string): Promise<string> {
  const work = await mkdtemp(join(dir, '.mk-'));
  const p = (f: string) => join(work, f);
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '3650', '-subj', '/CN=Test Certificate Authority']);
  await exec('openssl', ['genrsa', '-traditional', '-out', p('leaf.key'), '2048']);
  await exec('openssl', ['req', '-new', '-key', p('leaf.key'), '-out', p('leaf.csr'), '-subj', `/CN=${name}`]);
  await writeFile(p('ext'), `subjectAltName=DNS:${name}\n`);
  await exec('openssl', ['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('leaf.pem'), '-days', '90', '-extfile', p('ext')]);
  const text = [await readFile(p('leaf.key'), 'utf8'), await readFile(p('leaf.pem'), 'utf8'), await readFile(p('ca.pem'), 'utf8')].join('');
  await rm(work, { recursive: true, force: true });
  return text;
}
