/**
 * Tests of the ACME proxy that adds ARI and profiles in front of pebble 2.4.0. The daemon's ARI,
 * profile, `replaces` and rate-limit handling are tested through this proxy, so it must be shown to be
 * transparent for real issuance and to answer exactly what the test configured.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { createAcmeAgent } from '../../src/acme/acme-agent.js';
import type { AcmeClient } from '../../src/acme/protocol/client.js';
import { createAcmeClient } from '../../src/acme/protocol/create-client.js';
import { AcmeProblemError } from '../../src/acme/protocol/problem.js';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/util/clock.js';
import { orderCertificate } from '../support/acme-order.js';
import { AcmeProxy } from '../support/acme-proxy.js';
import { pebbleTls, startPebble, type Pebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const PROFILES = { classic: 'The default profile', shortlived: 'Six-day certificates' };

describe('ACME proxy in front of pebble', () => {
  let pebble: Pebble;
  let proxy: AcmeProxy;
  let client: AcmeClient;
  let raw: Agent;
  let acmeAgent: Agent;
  const tokens = new Map<string, string>();
  const challengeServer = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(req.url ?? '')?.[1];
    const keyAuthorization = token === undefined ? undefined : tokens.get(token);
    if (keyAuthorization === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(keyAuthorization);
  });

  async function send(
    url: string,
    options: { method?: 'GET' | 'HEAD' | 'POST'; body?: string; headers?: Record<string, string>; dispatcher?: Agent; headersTimeout?: number } = {},
  ): Promise<Reply> {
    const response = await request(url, {
      method: options.method ?? 'GET',
      headers: options.headers ?? {},
      body: options.body ?? null,
      dispatcher: options.dispatcher ?? raw,
      ...(options.headersTimeout === undefined ? {} : { headersTimeout: options.headersTimeout }),
    });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  }

  /** A flattened JWS with a bogus signature: enough for requests the proxy answers by itself. */
  function fakeJws(url: string, payload: unknown): string {
    const b64u = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    return JSON.stringify({
      protected: b64u({ alg: 'ES256', nonce: 'unused', url, kid: 'https://127.0.0.1/my-account/1' }),
      payload: b64u(payload),
      signature: 'AAAA',
    });
  }

  /** A whole order, each step through the proxy. */
  async function issue(names: string[], extra: { profile?: string; replaces?: string } = {}): Promise<X509Certificate> {
    return new X509Certificate(await orderCertificate(client, names, tokens, extra));
  }

  before(async () => {
    const httpPort = await freePort();
    await new Promise<void>((resolve) => challengeServer.listen(httpPort, '127.0.0.1', resolve));
    pebble = await startPebble({ httpPort });
    const { caPem } = await pebbleTls();
    raw = new Agent({ connect: { ca: caPem } });
    proxy = await AcmeProxy.start({ upstream: new URL(pebble.directoryUrl).origin, caPem, profiles: PROFILES });
    // The proxy serves the shared test CA's certificate, as pebble does.
    acmeAgent = await createAcmeAgent({ caFile: pebble.caFile, timeoutMs: 10_000 });
    const accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    client = createAcmeClient({ acmeDirectoryUrl: proxy.directoryUrl, acmeTimeoutMs: 10_000 }, accountKey, { dispatcher: acmeAgent, clock: systemClock, logger: silentLogger() });
    await client.account({ termsOfServiceAgreed: true });
  });

  after(async () => {
    await acmeAgent.close();
    await proxy.stop();
    await raw.close();
    await pebble.stop();
    await new Promise<void>((resolve) => {
      challengeServer.close(() => {
        resolve();
      });
      challengeServer.closeAllConnections();
    });
  });

  it("serves pebble's directory in its own URLs, with renewalInfo and meta.profiles added", async () => {
    const proxyOrigin = new URL(proxy.directoryUrl).origin;
    const pebbleOrigin = new URL(pebble.directoryUrl).origin;
    const own = JSON.parse((await send(pebble.directoryUrl)).text) as Record<string, unknown>;
    const reply = await send(proxy.directoryUrl);
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    const directory = JSON.parse(reply.text) as Record<string, unknown>;

    assert.equal(directory.renewalInfo, `${proxyOrigin}/renewal-info`);
    assert.deepEqual((directory.meta as Record<string, unknown>).profiles, PROFILES);
    // Everything pebble said is still there, pointing at the proxy because it followed the Host header.
    for (const [key, value] of Object.entries(own)) {
      if (key === 'meta') {
        assert.deepEqual(directory.meta, { ...(value as Record<string, unknown>), profiles: PROFILES });
      } else {
        assert.equal(directory[key], String(value).replace(pebbleOrigin, proxyOrigin), key);
      }
    }
    assert.equal(directory.newOrder, `${proxyOrigin}/order-plz`);

    const head = await send(proxy.directoryUrl, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    assert.equal(Number(head.headers['content-length']), Buffer.byteLength(reply.text));
  });

  it('advertises neither ARI nor profiles when configured without them', async () => {
    const plain = await AcmeProxy.start({ upstream: pebble.directoryUrl, caPem: (await pebbleTls()).caPem, ari: false });
    try {
      const directory = JSON.parse((await send(plain.directoryUrl)).text) as Record<string, unknown>;
      assert.equal('renewalInfo' in directory, false);
      assert.equal('profiles' in (directory.meta as Record<string, unknown>), false);
      assert.equal(typeof directory.newOrder, 'string');
      // Without ARI the path is pebble's, which does not know it.
      assert.equal((await send(plain.directoryUrl.replace('/dir', '/renewal-info/a.b'))).status, 404);
    } finally {
      await plain.stop();
    }
  });

  it('carries a real issuance and records the order with its profile and replaces', async () => {
    const first = await issue(['app1.example.test'], { profile: 'shortlived' });
    assert.match(first.subjectAltName ?? '', /DNS:app1\.example\.test/);
    const second = await issue(['app1.example.test', 'app2.example.test'], { replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' });
    assert.match(second.subjectAltName ?? '', /DNS:app2\.example\.test/);

    // Pebble rejects 5 % of nonces by default; the client's badNonce retries show up as extra 400s.
    const created = proxy.orders.filter((o) => o.status === 201);
    assert.deepEqual(created, [
      { identifiers: ['app1.example.test'], profile: 'shortlived', status: 201 },
      { identifiers: ['app1.example.test', 'app2.example.test'], replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', status: 201 },
    ]);
    for (const path of ['/dir', '/nonce-plz', '/sign-me-up', '/order-plz', '/authZ', '/chalZ', '/finalize-order', '/certZ']) {
      assert.ok((proxy.requests.get(path) ?? 0) >= 1, `${path} in ${JSON.stringify([...proxy.requests])}`);
    }
    assert.ok([...proxy.requests.keys()].every((key) => /^\/[^/]*$/.test(key)), 'ids are stripped from the counted paths');
  });

  it('answers a profile it does not advertise with invalidProfile, nonce and index link', async () => {
    const before = proxy.orders.length;
    // The raw request below checks the rest of the answer.
    await assert.rejects(client.newOrder(['app3.example.test'], { profile: 'tlsclient' }), /profile "tlsclient" is not offered/);
    assert.deepEqual(proxy.orders.slice(before), [{ identifiers: ['app3.example.test'], profile: 'tlsclient', status: 400 }]);

    const newOrder = proxy.directoryUrl.replace('/dir', '/order-plz');
    const reply = await send(newOrder, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json' },
      body: fakeJws(newOrder, { identifiers: [{ type: 'dns', value: 'app3.example.test' }], profile: 'nope' }),
    });
    assert.equal(reply.status, 400);
    assert.equal(reply.headers['content-type'], 'application/problem+json');
    assert.equal((JSON.parse(reply.text) as { type: string }).type, 'urn:ietf:params:acme:error:invalidProfile');
    assert.match(String(reply.headers['replay-nonce']), /^[\w-]+$/);
    assert.equal(reply.headers.link, `<${proxy.directoryUrl}>;rel="index"`);

    // The client's next request still works: the nonce it spent never reached pebble.
    const order = await client.newOrder(['app3.example.test']);
    assert.equal(order.status, 'pending');
  });

  it('rejects orders carrying replaces with 409 alreadyReplaced while told to', async () => {
    const newOrder = proxy.directoryUrl.replace('/dir', '/order-plz');
    const forwardedBefore = proxy.requests.get('/order-plz') ?? 0;
    proxy.rejectReplaces(true);
    try {
      const reply = await send(newOrder, {
        method: 'POST',
        headers: { 'content-type': 'application/jose+json' },
        body: fakeJws(newOrder, { identifiers: [{ type: 'dns', value: 'app4.example.test' }], replaces: 'x.y' }),
      });
      assert.equal(reply.status, 409);
      assert.equal((JSON.parse(reply.text) as { type: string }).type, 'urn:ietf:params:acme:error:alreadyReplaced');
      assert.ok(typeof reply.headers['replay-nonce'] === 'string');

      await assert.rejects(client.newOrder(['app4.example.test'], { replaces: 'x.y' }), /already been replaced/);
      assert.deepEqual(proxy.orders.at(-1), { identifiers: ['app4.example.test'], replaces: 'x.y', status: 409 });
      // Orders without replaces are unaffected.
      await client.newOrder(['app4.example.test']);
    } finally {
      proxy.rejectReplaces(false);
    }
    assert.ok((proxy.requests.get('/order-plz') ?? 0) >= forwardedBefore + 3);
    const retried = await client.newOrder(['app4.example.test'], { replaces: 'x.y' });
    assert.equal(retried.status, 'pending');
  });

  it('serves renewal information as set, with Retry-After, and 404 for unknown certificates', async () => {
    const directory = JSON.parse((await send(proxy.directoryUrl)).text) as { renewalInfo: string };
    const start = new Date('2030-01-01T00:00:00.000Z');
    const end = new Date('2030-01-02T00:00:00.000Z');
    proxy.setWindow('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', { start, end, explanationURL: 'https://example.test/why' }, 3600);
    proxy.setWindow('plain.AQ', { start, end });

    const set = await send(`${directory.renewalInfo}/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE`);
    assert.equal(set.status, 200);
    assert.equal(set.headers['content-type'], 'application/json');
    assert.equal(set.headers['retry-after'], '3600');
    assert.deepEqual(JSON.parse(set.text), {
      suggestedWindow: { start: '2030-01-01T00:00:00.000Z', end: '2030-01-02T00:00:00.000Z' },
      explanationURL: 'https://example.test/why',
    });

    const plain = await send(`${directory.renewalInfo}/plain.AQ`);
    assert.equal(plain.headers['retry-after'], '21600');
    assert.deepEqual(JSON.parse(plain.text), { suggestedWindow: { start: start.toISOString(), end: end.toISOString() } });

    assert.equal((await send(`${directory.renewalInfo}/unknown.AQ`)).status, 404);
    assert.equal((await send(directory.renewalInfo)).status, 404);

    proxy.setDefaultWindow((certId) => (certId.startsWith('dflt.') ? { window: { start, end }, retryAfterSeconds: 60 } : undefined));
    const fallback = await send(`${directory.renewalInfo}/dflt.Ag`);
    assert.equal(fallback.status, 200);
    assert.equal(fallback.headers['retry-after'], '60');
    assert.equal((await send(`${directory.renewalInfo}/other.Ag`)).status, 404);
    // An explicit window wins over the default.
    assert.equal((await send(`${directory.renewalInfo}/plain.AQ`)).headers['retry-after'], '21600');
    assert.equal((await send(`${directory.renewalInfo}/plain.AQ`, { method: 'POST', body: '{}' })).status, 405);
  });

  it('injects faults for the next requests to a path, then serves normally', async () => {
    const directory = JSON.parse((await send(proxy.directoryUrl)).text) as { renewalInfo: string };
    proxy.setWindow('fault.AQ', { start: new Date(), end: new Date(Date.now() + 3_600_000) });
    proxy.failNext('/renewal-info', 2, 429, 'rateLimited', 7);
    for (let i = 0; i < 2; i++) {
      const limited = await send(`${directory.renewalInfo}/fault.AQ`);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '7');
      assert.equal(limited.headers['content-type'], 'application/problem+json');
      assert.equal((JSON.parse(limited.text) as { type: string }).type, 'urn:ietf:params:acme:error:rateLimited');
      // No nonce for a GET: the client spent none.
      assert.equal(limited.headers['replay-nonce'], undefined);
    }
    assert.equal((await send(`${directory.renewalInfo}/fault.AQ`)).status, 200);

    // Our client hands a 503 back with its Retry-After instead of retrying (the daemon's backoff
    // decides); asked again, as the daemon would after the wait, it gets the order.
    const before = proxy.orders.length;
    proxy.failNext('/order-plz', 1, 503, undefined, 1);
    await assert.rejects(client.newOrder(['app5.example.test']), (err: unknown) => err instanceof AcmeProblemError && err.status === 503 && err.retryAfterMs === 1_000);
    const order = await client.newOrder(['app5.example.test']);
    assert.equal(order.status, 'pending');
    const seen = proxy.orders.slice(before).map((o) => o.status);
    assert.equal(seen[0], 503);
    assert.equal(seen.at(-1), 201);
  });

  // Last in this file: 'refuse' also drops the connections of the shared ACME client above.
  it("resets every connection while 'refuse', answers nothing while 'stall', and serves on the same port when 'up'", async () => {
    const { caPem } = await pebbleTls();
    const kept = new Agent({ connect: { ca: caPem } });
    const newOrder = proxy.directoryUrl.replace('/dir', '/order-plz');
    try {
      assert.equal((await send(proxy.directoryUrl, { dispatcher: kept })).status, 200, 'a keep-alive connection, opened while up');
      const refusedBefore = proxy.refusedConnections.length;
      proxy.setMode('refuse');
      assert.equal(proxy.mode, 'refuse');
      await assert.rejects(send(proxy.directoryUrl, { dispatcher: kept }), 'the open connection was dropped, not kept serving');
      for (let i = 0; i < 3; i++) {
        // A fresh agent each time, so each attempt is a new connection and the error is the connect's.
        const fresh = new Agent({ connect: { ca: caPem } });
        try {
          await assert.rejects(send(proxy.directoryUrl, { dispatcher: fresh }), { code: 'ECONNRESET' });
        } finally {
          await fresh.close();
        }
      }
      assert.ok(proxy.refusedConnections.length >= refusedBefore + 3, `attempts counted: ${proxy.refusedConnections.length - refusedBefore}`);

      proxy.setMode('up');
      assert.equal((await send(proxy.directoryUrl)).status, 200, 'served again on the same port');

      const ordersBefore = proxy.orders.length;
      const stalledBefore = proxy.stalledRequests.length;
      proxy.setMode('stall');
      await assert.rejects(send(proxy.directoryUrl, { headersTimeout: 300 }), { code: 'UND_ERR_HEADERS_TIMEOUT' });
      await assert.rejects(
        send(newOrder, {
          method: 'POST',
          headers: { 'content-type': 'application/jose+json' },
          body: fakeJws(newOrder, { identifiers: [{ type: 'dns', value: 'stall.example.test' }] }),
          headersTimeout: 300,
        }),
        { code: 'UND_ERR_HEADERS_TIMEOUT' },
      );
      assert.deepEqual(proxy.stalledRequests.slice(stalledBefore), ['GET /dir', 'POST /order-plz']);
      assert.equal(proxy.orders.length, ordersBefore, 'a stalled request never reaches pebble');
    } finally {
      proxy.setMode('up');
      await kept.close();
    }
    assert.equal((await send(proxy.directoryUrl)).status, 200);
    const order = await client.newOrder(['after-outage.example.test']);
    assert.equal(order.status, 'pending', 'the ACME client carries on after the outage');
  });
});
