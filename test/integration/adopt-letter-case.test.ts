/**
 * Adopting the original's storage directory where a certificate file is named in other letter case
 * (the original named files after the label's text: `MARATHON_ACME_0_DOMAIN=Mixed.Example.test` gave
 * `certs/Mixed.Example.test.pem`), against real peers: Debian's pebble behind the counting ACME
 * proxy, Debian's HAProxy behind the marathon-lb stand-in (so the delivery check probes what HAProxy
 * really presents), and the Marathon emulator. Also the key encodings of what the daemon writes,
 * checked with the openssl CLI and HAProxy.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { CertStore } from '../../src/certs/store.js';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { runPlan } from '../../src/plan/command.js';
import { runRenew } from '../../src/renew/command.js';
import { readStatus, type StatusReport } from '../../src/status/command.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { haproxyCheck } from '../support/haproxy.js';
import { startMarathonLb } from '../support/marathon-lb.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { pebbleTls, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const exec = promisify(execFile);

function testLogger() {
  return process.env['MARATHON_ACME_TEST_LOGS'] === '1' ? createLogger('debug', process.stderr) : silentLogger();
}

/**
 * What the original left for a label in mixed case: its PKCS#1 key, a leaf whose CN and SAN keep the
 * label's case (a CA that did not lower-case them), then the CA. The daemon accepts any valid bundle
 * as it finds it; only its renewals come from pebble.
 */
async function originalBundle(dir: string, label: string): Promise<string> {
  const work = await mkdtemp(join(dir, '.mk-'));
  const p = (f: string) => join(work, f);
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '3650', '-subj', '/CN=Test Certificate Authority']);
  await exec('openssl', ['genrsa', '-traditional', '-out', p('leaf.key'), '2048']);
  await exec('openssl', ['req', '-new', '-key', p('leaf.key'), '-out', p('leaf.csr'), '-subj', `/CN=${label}`]);
  await writeFile(p('ext'), `subjectAltName=DNS:${label}\n`);
  await exec('openssl', ['x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('leaf.pem'), '-days', '90', '-extfile', p('ext')]);
  const text = [await readFile(p('leaf.key'), 'utf8'), await readFile(p('leaf.pem'), 'utf8'), await readFile(p('ca.pem'), 'utf8')].join('');
  await rm(work, { recursive: true, force: true });
  return text;
}

/** openssl's own view: the public key derived from the file's private key is the leaf's. */
async function assertKeyMatchesLeaf(file: string): Promise<void> {
  const fromKey = (await exec('openssl', ['pkey', '-in', file, '-pubout'])).stdout;
  const fromLeaf = (await exec('openssl', ['x509', '-in', file, '-pubkey', '-noout'])).stdout;
  assert.match(fromKey, /^-----BEGIN PUBLIC KEY-----\n/);
  assert.equal(fromKey, fromLeaf, `${file}: the key is the certificate's`);
}

function rowsFor(report: Pick<StatusReport, 'certificates'>, name: string) {
  return report.certificates.filter((r) => r.name === name || r.names.includes(name));
}

describe('adopting certificate files named in other letter case', () => {
  let pebble: Pebble;
  let proxy: AcmeProxy;
  let httpPort = 0;

  before(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort });
    proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
  });
  after(async () => {
    await proxy.stop();
    await pebble.stop();
  });

  const ordersFor = (name: string) => proxy.orders.filter((o) => o.identifiers.includes(name));

  async function daemonOn(t: TestContext, storage: string, labels: Record<string, string>, overrides: Partial<Config> = {}) {
    const defer = cleanupStack(t);
    defer(() => rm(storage, { recursive: true, force: true }));
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    marathon.addApp(hostApp('/app', { HAPROXY_GROUP: 'external', ...labels }));
    // HAProxy refuses a configuration without certs/ and default.pem; on a cluster the LBs run first.
    await new CertStore(storage).init(new Date());
    const lb = await startMarathonLb({ storageDir: storage, acmePort: httpPort });
    defer(() => lb.stop());
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: proxy.directoryUrl,
      acmeCaFile: pebble.caFile,
      marathonUrls: [marathon.url],
      lbUrls: [lb.url],
      listen: { host: '127.0.0.1', port: httpPort },
      deliveryCheckPort: lb.httpsPort,
      // Rounds every 2 s besides the checks after each signal: the adopted file gets checked without one.
      deliveryCheckIntervalMs: 2_000,
      ...overrides,
    });
    const daemon = new Daemon({
      config,
      logger: testLogger(),
      deliveryTiming: { graceMs: 3_000 },
      deliveryTarget: () => ({ host: '127.0.0.1', port: lb.httpsPort }),
    });
    await daemon.start();
    defer(() => daemon.stop(2_000));
    const statusJson = async () => (await (await request(`http://127.0.0.1:${daemon.port}/status.json`)).body.json()) as StatusReport;
    return { daemon, lb, config, statusJson };
  }

  it('takes certs/Mixed.Example.test.pem as mixed.example.test: no order, no retirement, delivered; renewed as certs/mixed.example.test.pem', async (t) => {
    const name = 'mixed.example.test';
    const storage = await mkdtemp(join(tmpdir(), 'ma-adopt-case-'));
    await mkdir(join(storage, 'certs'));
    await mkdir(join(storage, 'unmanaged-certs'));
    await exec('openssl', ['genrsa', '-traditional', '-out', join(storage, 'client.key'), '2048']);
    const bundle = await originalBundle(storage, 'Mixed.Example.test');
    const mixedFile = join(storage, 'certs', 'Mixed.Example.test.pem');
    await writeFile(mixedFile, bundle);
    const certFiles = async () => (await readdir(join(storage, 'certs'))).sort();

    // A second of grace instead of a week: the daemon's real clock passes it within the test, and the
    // lock and request files of `marathon-acme renew` need that real clock.
    const { daemon, lb, config, statusJson } = await daemonOn(t, storage, { MARATHON_ACME_0_DOMAIN: 'Mixed.Example.test' }, { retireAfterMs: 1_000 });
    const firstSync = Date.now();
    await eventually('a completed sync', async () => (await request(`http://127.0.0.1:${daemon.port}/ready`)).statusCode === 200);
    await daemon.whenIdle();
    assert.deepEqual(ordersFor(name), [], 'no order: the stored certificate serves the name');
    assert.deepEqual(await certFiles(), ['Mixed.Example.test.pem']);
    assert.equal(await readFile(mixedFile, 'utf8'), bundle, 'kept as it is');

    // /status: one row, under the lower-case name, showing the real file and what HAProxy presents for it.
    await eventually('the delivery check saw HAProxy present it', async () => rowsFor(await statusJson(), name)[0]?.delivery[0]?.status === 'served');
    const [live, ...others] = rowsFor(await statusJson(), name);
    assert.deepEqual(others, [], 'no "pending" row beside it');
    assert.deepEqual([live?.name, live?.file, live?.state], [name, 'certs/Mixed.Example.test.pem', 'valid']);
    // `marathon-acme status` and `plan` read the directory the same way.
    const offline = rowsFor(await readStatus(storage, Date.now()), name);
    assert.deepEqual(offline.map((r) => [r.name, r.file, r.state]), [[name, 'certs/Mixed.Example.test.pem', 'valid']]);
    const plan = await runPlan(config, silentLogger(), Date.now());
    assert.deepEqual(plan.lines.map((l) => [l.action, l.subject]), [['keep', name]], plan.text);

    // Past the grace the name is still wanted and the file still serves it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstSync + 1_500 - Date.now())));
    daemon.requestSync('test: past the retirement grace');
    await daemon.whenIdle();
    assert.deepEqual(await certFiles(), ['Mixed.Example.test.pem']);
    assert.equal((await readdir(storage)).includes('retired-certs'), false, 'nothing retired');
    assert.deepEqual(ordersFor(name), []);

    // `marathon-acme renew <name>` through the running daemon: the renewal replaces the file under the lower-case name.
    const signals = lb.usr1;
    const renewed = await runRenew({ config, names: [name], all: false, offline: false, waitMs: 60_000 }, silentLogger());
    assert.equal(renewed.code, 0, renewed.text);
    // pebble rejects some nonces on purpose (400 badNonce, retried by the client): not orders.
    assert.deepEqual(ordersFor(name).filter((o) => o.status !== 400).map((o) => [o.identifiers, o.status]), [[[name], 201]]);
    assert.deepEqual(await certFiles(), ['mixed.example.test.pem'], 'one file for the name, in lower case');
    assert.equal((await readdir(storage)).includes('retired-certs'), false);
    const file = join(storage, 'certs', `${name}.pem`);
    assert.match(await readFile(file, 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----\n/, 'RSA keys in PKCS#1, as the original wrote them');
    await assertKeyMatchesLeaf(file);
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);
    await daemon.lbSettled();
    assert.equal(lb.usr1, signals + 1);
    await eventually('HAProxy presents the renewed certificate', async () => {
      const [row] = rowsFor(await statusJson(), name);
      return row?.file === `certs/${name}.pem` && row.delivery[0]?.status === 'served';
    });
  });

  it('writes ECDSA P-256 keys as SEC1 (BEGIN EC PRIVATE KEY), which openssl and HAProxy take', async (t) => {
    const name = 'ec.example.test';
    const storage = await mkdtemp(join(tmpdir(), 'ma-ec-key-'));
    const { daemon } = await daemonOn(t, storage, { MARATHON_ACME_0_DOMAIN: name }, { keyType: 'ecdsa-p256' });
    const file = join(storage, 'certs', `${name}.pem`);
    await eventually('the certificate', async () => (await readdir(join(storage, 'certs'))).includes(`${name}.pem`));
    await daemon.whenIdle();
    const text = await readFile(file, 'utf8');
    assert.match(text, /^-----BEGIN EC PRIVATE KEY-----\n/);
    assert.doesNotMatch(text, /BEGIN PRIVATE KEY/);
    assert.match((await exec('openssl', ['pkey', '-in', file, '-noout', '-text'])).stdout, /ASN1 OID: prime256v1/);
    await assertKeyMatchesLeaf(file);
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);
  });
});
