/** CA options against pebble: external account binding, certificate key types, profiles, nonce reuse. */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { createAcmeAgent } from '../../src/acme/acme-agent.js';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { AcmeCertificateAuthority } from '../../src/acme/issuer.js';
import { pemCertificates, topIssuerCommonName } from '../../src/acme/protocol/chain.js';
import { createAcmeClient } from '../../src/acme/protocol/create-client.js';
import { splitPem } from '../../src/certs/pem.js';
import type { Config } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/util/clock.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { eventually } from '../support/eventually.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { haproxyCheck } from '../support/haproxy.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { pebbleTls, startPebble, type Pebble, type PebbleOptions } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const EAB_KID = 'kid-1';
const EAB_KEY = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';

/** pebble + emulator (one external app) + LB + a daemon with `settings` (or what they are, given pebble); everything stopped after the test. */
async function run(t: TestContext, pebbleOptions: Omit<PebbleOptions, 'httpPort'>, settings: Partial<Config> | ((pebble: Pebble) => Promise<Partial<Config>>)) {
  const defer = cleanupStack(t);
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort, ...pebbleOptions });
  defer(() => pebble.stop());
  const overrides = typeof settings === 'function' ? await settings(pebble) : settings;
  const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
  defer(() => marathon.stop());
  marathon.addApp(hostApp('/app', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'options.example.test' }));
  const lb = await startLbReceiver();
  defer(() => lb.stop());
  const storage = await mkdtemp(join(tmpdir(), 'ma-options-'));
  defer(() => rm(storage, { recursive: true, force: true }));
  const config = testConfig({
    storageDir: storage,
    acmeDirectoryUrl: pebble.directoryUrl,
    marathonUrls: [marathon.url],
    lbUrls: [lb.url],
    listen: { host: '127.0.0.1', port: httpPort },
    acmeCaFile: pebble.caFile,
    ...overrides,
  });
  const daemon = new Daemon({ config, logger: silentLogger() });
  await daemon.start();
  defer(() => daemon.stop(1_000));
  const files = async () => readdir(join(storage, 'certs'));
  return { daemon, storage, files };
}

describe('CA options', () => {
  const eabPebble = { extraConfig: { externalAccountBindingRequired: true, externalAccountMACKeys: { [EAB_KID]: EAB_KEY } } };

  it('registers with external account binding where the CA requires it', async (t) => {
    const { files } = await run(t, eabPebble, { eab: { kid: EAB_KID, hmacKey: EAB_KEY } });
    await eventually('a certificate', async () => (await files()).length === 1);
  });

  it('reports the CA refusing an account without binding, and keeps trying', async (t) => {
    const { daemon } = await run(t, eabPebble, {});
    await eventually('/ready names the problem', async () => {
      const res = await request(`http://127.0.0.1:${daemon.port}/ready`);
      const body = JSON.stringify(await res.body.json());
      return res.statusCode === 503 && body.includes('ACME account not registered') && body.includes('externalAccountBinding');
    });
  });

  for (const [keyType, asymmetricKeyType, detail] of [
    ['ecdsa-p256', 'ec', 'prime256v1'],
    ['ecdsa-p384', 'ec', 'secp384r1'],
    ['rsa4096', 'rsa', '4096'],
  ] as const) {
    it(`issues certificates with ${keyType} keys that haproxy loads`, async (t) => {
      const { files, storage } = await run(t, {}, { keyType });
      await eventually('a certificate', async () => (await files()).length === 1);
      const text = await readFile(join(storage, 'certs', 'options.example.test.pem'), 'utf8');
      const key = createPrivateKey(splitPem(text).blocks[0]?.pem ?? '');
      assert.equal(key.asymmetricKeyType, asymmetricKeyType);
      const details = key.asymmetricKeyDetails;
      assert.equal(String(details?.namedCurve ?? details?.modulusLength), detail);
      const check = await haproxyCheck(storage);
      assert.ok(check.ok, check.output);
    });
  }

  it('stores the chain that leads to the --preferred-chain root, of the alternates the CA offers', async (t) => {
    let roots: string[] = [];
    // Pebble signs every certificate under two roots (random names) and links the second chain as an alternate.
    const { files, storage } = await run(t, { env: { PEBBLE_ALTERNATE_ROOTS: '1' } }, async (pebble) => {
      const agent = await createAcmeAgent({ caFile: pebble.caFile, timeoutMs: 10_000 });
      try {
        roots = await Promise.all([0, 1].map(async (index) => {
          const pem = await (await request(`${pebble.managementUrl}/roots/${index}`, { dispatcher: agent })).body.text();
          return new X509Certificate(pem).subject.split('\n').find((rdn) => rdn.startsWith('CN='))?.slice('CN='.length) ?? '';
        }));
      } finally {
        await agent.close();
      }
      return { preferredChain: roots[1] };
    });
    assert.ok(roots[0] !== roots[1] && roots[1] !== '', JSON.stringify(roots));
    await eventually('a certificate', async () => (await files()).length === 1);
    const bundle = await readFile(join(storage, 'certs', 'options.example.test.pem'), 'utf8');
    assert.equal(topIssuerCommonName(bundle), roots[1], `the chain to the preferred root, not the default ${roots[0] ?? ''}`);
    assert.equal(pemCertificates(bundle).length, 2, 'leaf and intermediate, as in the default chain');
    const check = await haproxyCheck(storage);
    assert.ok(check.ok, check.output);
  });

  it('stops with a clear error when the CA does not offer the requested profile', async (t) => {
    const { daemon, files } = await run(t, {}, { acmeProfile: 'tlsserver' });
    const error = await daemon.fatal;
    assert.match(error.message, /--acme-profile tlsserver: the CA at .* offers no profiles/);
    assert.deepEqual(await files(), []);
  });

  it('reuses the nonces of answers: one issuance sends far fewer HEAD newNonce than signed requests', async (t) => {
    const defer = cleanupStack(t);
    const httpPort = await freePort();
    // No rejected nonces, so that every count below is the client's own choice.
    const pebble = await startPebble({ httpPort, env: { PEBBLE_WFE_NONCEREJECT: '0' } });
    defer(() => pebble.stop());
    const proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem });
    defer(() => proxy.stop());
    const responder = new ChallengeResponder();
    const server = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
    await listen(server, '127.0.0.1', httpPort);
    defer(() => closeServer(server));
    const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const agent = await createAcmeAgent({ caFile: pebble.caFile, timeoutMs: 10_000 });
    defer(() => agent.close());
    const logger = silentLogger();
    const ca = new AcmeCertificateAuthority({
      client: createAcmeClient({ acmeDirectoryUrl: proxy.directoryUrl, acmeTimeoutMs: 10_000 }, accountKeyPem, { dispatcher: agent, clock: systemClock, logger }),
      keyType: 'ecdsa-p256',
      email: undefined,
      responder,
      logger,
      clock: systemClock,
    });
    await ca.ensureAccount();
    const registration = new Map(proxy.requestsByMethod);
    await ca.issue(['nonce.example.test']);
    const order = [...proxy.requestsByMethod].map(([key, n]) => [key, n - (registration.get(key) ?? 0)] as const).filter(([, n]) => n > 0);
    const count = (counts: Iterable<readonly [string, number]>, match: (key: string) => boolean): number =>
      [...counts].reduce((sum, [key, n]) => (match(key) ? sum + n : sum), 0);
    const isNonce = (key: string): boolean => key === 'HEAD /nonce-plz';
    const isSigned = (key: string): boolean => key.startsWith('POST ');
    t.diagnostic(`registration: ${JSON.stringify([...registration])}`);
    t.diagnostic(`one order: ${JSON.stringify(order)}`);
    // Registration starts with an empty pool, so it needs one; the order itself needs none.
    assert.ok(count(registration, isNonce) <= 1, `registration: ${JSON.stringify([...registration])}`);
    assert.ok(count(order, isSigned) >= 6, `one order: ${JSON.stringify(order)}`);
    assert.equal(count(order, isNonce), 0, `one order: ${JSON.stringify(order)}`);
  });
});
