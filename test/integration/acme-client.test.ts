/**
 * Our RFC 8555 client against real pebble: account lookup and creation, a two-name order through
 * HTTP-01, finalization with our CSR, the alternate chains pebble offers, account key change and
 * revocation; and, through the ACME proxy, the failures a CA's front end produces (badNonce, 429,
 * an HTML 502, a broken JSON body). Pebble keeps rejecting 5 % of nonces throughout, so every step
 * also runs through the badNonce retry now and then.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import { createAcmeAgent } from '../../src/acme/acme-agent.js';
import { pemCertificates, topIssuerCommonName } from '../../src/acme/protocol/chain.js';
import { AcmeClient } from '../../src/acme/protocol/client.js';
import { createCsr } from '../../src/acme/protocol/csr.js';
import { AcmeProblemError } from '../../src/acme/protocol/problem.js';
import { AcmeTransport } from '../../src/acme/protocol/transport.js';
import type { AcmeOrder } from '../../src/acme/protocol/types.js';
import { systemClock } from '../../src/util/clock.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { memoryLogger, type LogLine } from '../support/memory-logger.js';
import { startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

function rsaKey(): KeyObject {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

function ecKey(namedCurve: 'P-256' | 'P-384'): KeyObject {
  return generateKeyPairSync('ec', { namedCurve }).privateKey;
}

function commonName(dn: string): string | undefined {
  return dn.split('\n').find((rdn) => rdn.startsWith('CN='))?.slice('CN='.length);
}

describe('AcmeClient against pebble', () => {
  let pebble: Pebble;
  let proxy: AcmeProxy;
  let agent: Agent;
  let challengeServer: Server;
  const tokens = new Map<string, string>();
  const logs: LogLine[][] = [];

  before(async () => {
    const httpPort = await freePort();
    // One alternate root: pebble then links a second chain to every certificate.
    pebble = await startPebble({ httpPort, env: { PEBBLE_ALTERNATE_ROOTS: '1' } });
    proxy = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: await readFile(pebble.caFile, 'utf8') });
    agent = await createAcmeAgent({ caFile: pebble.caFile, timeoutMs: 10_000 });
    challengeServer = createServer((req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(req.url ?? '')?.[1];
      const keyAuthorization = token === undefined ? undefined : tokens.get(token);
      if (keyAuthorization === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(keyAuthorization);
    });
    await new Promise<void>((resolve) => challengeServer.listen(httpPort, '127.0.0.1', resolve));
  });

  after(async () => {
    await new Promise<void>((resolve) => {
      challengeServer.close(() => {
        resolve();
      });
    });
    await proxy.stop();
    await agent.close();
    await pebble.stop();
  });

  function client(accountKey: KeyObject, directoryUrl = pebble.directoryUrl): AcmeClient {
    const { logger, lines } = memoryLogger();
    logs.push(lines);
    const transport = new AcmeTransport({ dispatcher: agent, timeoutMs: 10_000, userAgent: 'marathon-acme/test', clock: systemClock });
    return new AcmeClient({ directoryUrl, accountKey, transport, clock: systemClock, logger });
  }

  /** newOrder → HTTP-01 for every authorization → finalize with a fresh P-256 key; the valid order. */
  async function issue(acme: AcmeClient, names: string[]): Promise<AcmeOrder> {
    const order = await acme.newOrder(names);
    assert.equal(order.status, 'pending');
    assert.deepEqual(order.identifiers.map((id) => id.value).sort(), [...names].sort());
    for (const url of order.authorizations) {
      const authz = await acme.authorization(url);
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      assert.ok(challenge?.token !== undefined, `an http-01 challenge for ${authz.identifier.value}`);
      tokens.set(challenge.token, acme.keyAuthorization(challenge.token));
      try {
        await acme.answerChallenge(challenge.url);
        assert.equal((await acme.waitForAuthorization(url)).status, 'valid');
      } finally {
        tokens.delete(challenge.token);
      }
    }
    return acme.finalize(order, await createCsr(names, ecKey('P-256')));
  }

  async function managementPem(path: string): Promise<string> {
    const response = await request(`${pebble.managementUrl}${path}`, { dispatcher: agent });
    return response.body.text();
  }

  it('creates the account, then finds it again by its key', async () => {
    const key = rsaKey();
    assert.equal(await client(key).findAccount(), undefined, 'no account yet, and findAccount does not create one');
    const first = await client(key).account({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
    assert.equal(first.created, true);
    assert.equal(first.status, 'valid');
    const again = await client(key).account({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'] });
    assert.deepEqual(again, { ...first, created: false });
    assert.deepEqual(await client(key).findAccount(), { url: first.url, status: 'valid' });
    const moved = await client(key).account({ termsOfServiceAgreed: true, contact: ['mailto:other@example.test'] });
    assert.deepEqual(moved, again, 'a contact change updates the same account');
  });

  it('issues a two-name certificate through HTTP-01 and offers the alternate chain by its root', async () => {
    const acme = client(ecKey('P-384'));
    await acme.account({ termsOfServiceAgreed: true });
    const names = ['one.example.test', 'two.example.test'];
    const order = await issue(acme, names);
    assert.equal(order.status, 'valid');

    const chain = await acme.certificate(order);
    const [leafPem] = pemCertificates(chain);
    assert.ok(leafPem !== undefined);
    const leaf = new X509Certificate(leafPem);
    assert.equal(leaf.subjectAltName, 'DNS:one.example.test, DNS:two.example.test');
    assert.ok(leaf.checkIssued(new X509Certificate(await pebble.intermediatePem())), 'the default chain is issued by intermediate 0');

    const defaultRoot = commonName(new X509Certificate(await pebble.rootPem()).subject);
    const alternateRoot = commonName(new X509Certificate(await managementPem('/roots/1')).subject);
    assert.ok(defaultRoot !== undefined && alternateRoot !== undefined && defaultRoot !== alternateRoot);
    assert.equal(topIssuerCommonName(chain), defaultRoot);

    const preferred = await acme.certificate(order, { preferredChain: alternateRoot });
    assert.equal(topIssuerCommonName(preferred), alternateRoot);
    assert.equal(pemCertificates(preferred)[0], leafPem, 'the same leaf under another chain');

    const lines = logs.at(-1) ?? [];
    const fallback = await acme.certificate(order, { preferredChain: 'No Such Root' });
    assert.equal(fallback, chain);
    assert.ok(lines.some((l) => l.msg.includes('preferred issuer') && Array.isArray(l['offered']) && l['offered'].includes(alternateRoot)));
  });

  it('changes the account key: the account keeps its URL and orders with the new key', async () => {
    const oldKey = ecKey('P-256');
    const acme = client(oldKey);
    const account = await acme.account({ termsOfServiceAgreed: true });
    const newKey = rsaKey();
    await acme.keyChange(newKey);
    const order = await issue(acme, ['rollover.example.test']);
    assert.equal(order.status, 'valid');

    const found = await client(newKey).account({ termsOfServiceAgreed: true });
    assert.deepEqual(found, { ...account, created: false }, 'the new key finds the same account');
    const byOldKey = await client(oldKey).account({ termsOfServiceAgreed: true });
    assert.equal(byOldKey.created, true, 'the old key no longer names an account');
    assert.notEqual(byOldKey.url, account.url);
  });

  it('revokes a certificate; a second revocation is refused as alreadyRevoked', async () => {
    const acme = client(ecKey('P-256'));
    await acme.account({ termsOfServiceAgreed: true });
    const order = await issue(acme, ['revoked.example.test']);
    const [leafPem] = pemCertificates(await acme.certificate(order));
    assert.ok(leafPem !== undefined);
    const der = new X509Certificate(leafPem).raw;
    await acme.revoke(der, 1);
    await assert.rejects(acme.revoke(der, 1), (err: unknown) => err instanceof AcmeProblemError && err.type === 'alreadyRevoked');
  });

  describe('through the ACME proxy', () => {
    it('gets an order through injected badNonce answers', async () => {
      const acme = client(ecKey('P-256'), proxy.directoryUrl);
      await acme.account({ termsOfServiceAgreed: true });
      const before = proxy.requestsByMethod.get('POST /order-plz') ?? 0;
      proxy.failNext('/order-plz', 3, 400, 'badNonce');
      const order = await acme.newOrder(['proxied.example.test']);
      assert.equal(order.status, 'pending');
      assert.ok((proxy.requestsByMethod.get('POST /order-plz') ?? 0) - before >= 4, 'three refusals, then the order');
    });

    it('returns a 429 with its Retry-After at once, without retrying', async () => {
      const acme = client(ecKey('P-256'), proxy.directoryUrl);
      await acme.account({ termsOfServiceAgreed: true });
      const before = proxy.requestsByMethod.get('POST /order-plz') ?? 0;
      proxy.failNext('/order-plz', 1, 429, 'rateLimited', 3600);
      await assert.rejects(acme.newOrder(['limited.example.test']), (err: unknown) => {
        assert.ok(err instanceof AcmeProblemError);
        assert.equal(err.type, 'rateLimited');
        assert.equal(err.status, 429);
        assert.equal(err.retryAfterMs, 3_600_000);
        return true;
      });
      assert.equal((proxy.requestsByMethod.get('POST /order-plz') ?? 0) - before, 1);
      // The 429's nonce was kept: the next order goes through at once.
      assert.equal((await acme.newOrder(['limited.example.test'])).status, 'pending');
    });

    it('keeps the default chain when the preferred alternate cannot be downloaded', async () => {
      const acme = client(ecKey('P-256'), proxy.directoryUrl);
      await acme.account({ termsOfServiceAgreed: true });
      const order = await issue(acme, ['alternate.example.test']);
      assert.ok(order.certificate !== undefined);
      const alternateRoot = commonName(new X509Certificate(await managementPem('/roots/1')).subject);
      assert.ok(alternateRoot !== undefined);
      // Pebble links its alternate chains as <certificate URL>/alternate/<n>.
      proxy.failNext(`${new URL(order.certificate).pathname}/alternate/1`, 1, 500);
      const lines = logs.at(-1) ?? [];
      const chain = await acme.certificate(order, { preferredChain: alternateRoot });
      assert.notEqual(topIssuerCommonName(chain), alternateRoot);
      assert.ok(lines.some((l) => l.msg.includes('could not be downloaded')));
      assert.equal(topIssuerCommonName(await acme.certificate(order, { preferredChain: alternateRoot })), alternateRoot, 'fetched once the CA serves it');
    });

    it('reads an HTML 502 and a broken JSON body as problems naming what came back', async () => {
      const acme = client(ecKey('P-256'), proxy.directoryUrl);
      await acme.account({ termsOfServiceAgreed: true });
      proxy.answerNextRaw('/order-plz', 1, 502, 'text/html', '<html><body><h1>502 Bad Gateway</h1></body></html>');
      await assert.rejects(acme.newOrder(['broken.example.test']), (err: unknown) => {
        assert.ok(err instanceof AcmeProblemError);
        assert.equal(err.status, 502);
        assert.equal(err.type, undefined);
        assert.match(err.detail, /502 Bad Gateway/);
        return true;
      });
      const order = await acme.newOrder(['broken.example.test']);
      proxy.answerNextRaw('/my-order/', 1, 200, 'application/json', '{"status": "pending", "authoriz');
      await assert.rejects(acme.order(order.url), (err: unknown) => {
        assert.ok(err instanceof AcmeProblemError);
        assert.equal(err.status, 200);
        assert.equal(err.endpoint, 'order');
        assert.match(err.detail, /not the JSON/);
        return true;
      });
      assert.equal((await acme.order(order.url)).status, 'pending', 'the next poll reads the order again');
    });
  });
});
