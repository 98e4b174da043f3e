import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { formatRoutingChecks } from '../../src/check/report.js';
import { checkRouting, parseLbHttp } from '../../src/check/routing.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { cleanupStack } from '../support/cleanup.js';
import { freePort } from '../support/ports.js';

/** A marathon-acme HTTP server on 127.0.0.1 (what marathon-lb should route the names to). */
async function daemonServer(t: TestContext): Promise<number> {
  const server = createHttpServer({ responder: new ChallengeResponder(), health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger() });
  const { port } = await listen(server, '127.0.0.1', 0);
  cleanupStack(t)(() => closeServer(server));
  return port;
}

/** Something other than marathon-acme on 127.0.0.1: a wrong route, a default backend. */
async function otherServer(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server: Server = createServer(handler);
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
  cleanupStack(t)(() => closeServer(server));
  return port;
}

const toLoopback = (): Promise<string[]> => Promise.resolve(['127.0.0.1']);

describe('routing check', () => {
  it('passes a name whose ping reaches marathon-acme, saying what DNS answered and what was fetched', async (t) => {
    const port = await daemonServer(t);
    const [check] = await checkRouting(['Shop.Example.Test.'], { port, timeoutMs: 2_000, lookup: toLoopback });
    assert.deepEqual(check, {
      name: 'Shop.Example.Test.',
      ok: true,
      addresses: ['127.0.0.1'],
      hops: [`http://shop.example.test:${port}/.well-known/acme-challenge/ping`],
    });
  });

  it('says what to fix for each kind of failure, in input order', async (t) => {
    const port = await daemonServer(t);
    const notFound = await otherServer(t, (_req, res) => res.writeHead(404).end('no route'));
    const otherApp = await otherServer(t, (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>shop</h1>'));
    // A site-wide redirect that forgets to exempt the challenge path (same port, so only that is wrong).
    let redirector = 0;
    redirector = await otherServer(t, (_req, res) => res.writeHead(301, { location: `http://127.0.0.1:${redirector}/` }).end());
    const ports: Record<string, number> = { 'missing.example.test': notFound, 'other.example.test': otherApp, 'moved.example.test': redirector };
    // One check per name on its own port is not how the CA works; run them one by one with the port each needs.
    const results = [];
    for (const [name, p] of Object.entries(ports)) results.push(...(await checkRouting([name], { port: p, timeoutMs: 2_000, lookup: toLoopback })));
    const nxdomain = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    results.push(...(await checkRouting(['nodns.example.test', '*.example.test'], { port, timeoutMs: 2_000, lookup: () => Promise.reject(nxdomain) })));
    assert.deepEqual(results.map((r) => [r.name, r.ok, r.kind]), [
      ['missing.example.test', false, 'http-status'],
      ['other.example.test', false, 'wrong-answer'],
      ['moved.example.test', false, 'wrong-redirect'],
      ['nodns.example.test', false, 'dns'],
      ['*.example.test', false, 'invalid-name'],
    ]);
    assert.match(results[0]?.reason ?? '', /answered 404 .*marathon-lb routes \/\.well-known\/acme-challenge\//);
    assert.match(results[1]?.reason ?? '', /not with marathon-acme's \{"message": "pong"\}.*path-routing labels/);
    assert.match(results[2]?.reason ?? '', /no longer ends with the challenge token/);
    assert.match(results[3]?.reason ?? '', /DNS has no address for nodns\.example\.test \(ENOTFOUND\): add an A or AAAA record/);
    assert.match(results[4]?.reason ?? '', /wildcard names need DNS-01/);
  });

  it('with --lb-http sends the check to that load balancer, whatever DNS says', async (t) => {
    const port = await daemonServer(t);
    const lookups: string[] = [];
    const elsewhere = (host: string): Promise<string[]> => {
      lookups.push(host);
      return Promise.resolve(['127.0.0.1']);
    };
    const [check] = await checkRouting(['api.example.test'], { port, timeoutMs: 2_000, via: '127.0.0.1', lookup: elsewhere });
    assert.equal(check?.ok, true);
    assert.deepEqual(check.addresses, ['127.0.0.1']);
    assert.deepEqual(lookups, [], 'the name itself was never looked up');
  });

  it('reports a load balancer that refuses connections', async () => {
    const port = await freePort();
    const [check] = await checkRouting(['down.example.test'], { port, timeoutMs: 2_000, via: '127.0.0.1' });
    assert.equal(check?.kind, 'connection');
    assert.match(check.reason ?? '', /connection refused at 127\.0\.0\.1:\d+: is marathon-lb listening\?/);
  });

  it("tells HAProxy's own 503 page (nowhere to send the request) from an app's 503", async (t) => {
    const haproxyPage = '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n';
    const lbPort = await otherServer(t, (_req, res) => res.writeHead(503, { 'content-type': 'text/html' }).end(haproxyPage));
    const appPort = await otherServer(t, (_req, res) => res.writeHead(503).end('maintenance'));
    const [lb] = await checkRouting(['shop.example.test'], { port: lbPort, timeoutMs: 2_000, lookup: toLoopback });
    const [app] = await checkRouting(['shop.example.test'], { port: appPort, timeoutMs: 2_000, lookup: toLoopback });
    assert.equal(lb?.kind, 'backend-down');
    assert.equal(
      lb.reason,
      `http://shop.example.test:${lbPort}/.well-known/acme-challenge/ping answered HAProxy's own 503 page ("No server is available to handle this request"): marathon-lb has no healthy marathon-acme backend: is the marathon-acme task running / passing its health check? (HAProxy answers the same when no rule matches the request, so if the task is healthy, check the labels: give check --marathon to have them checked)`,
    );
    assert.equal(app?.kind, 'http-status');
    assert.match(app.reason ?? '', /answered 503 instead of the probe/);
  });

  it('parses --lb-http as a bare http URL', () => {
    assert.deepEqual(parseLbHttp('http://10.0.0.5'), { host: '10.0.0.5', port: 80 });
    assert.deepEqual(parseLbHttp('http://lb.example:8080/'), { host: 'lb.example', port: 8080 });
    assert.throws(() => parseLbHttp('https://lb.example'), /must be an http:\/\/ URL/);
    assert.throws(() => parseLbHttp('http://lb.example/path'), /just http:\/\/host\[:port\]/);
    assert.throws(() => parseLbHttp('lb.example'), /is not a URL/);
  });

  it('prints one block per name, the verdict first, and a summary', () => {
    const text = formatRoutingChecks([
      { name: 'shop.example.com', ok: true, addresses: ['203.0.113.5'], hops: ['http://shop.example.com/.well-known/acme-challenge/ping'] },
      { name: 'api.example.com', ok: false, addresses: [], hops: [], kind: 'dns', reason: 'DNS has no address for api.example.com: add an A or AAAA record that points at marathon-lb' },
    ]);
    assert.equal(
      text,
      [
        'ok    shop.example.com',
        '      dns:     203.0.113.5',
        '      fetched: http://shop.example.com/.well-known/acme-challenge/ping',
        '      answer:  marathon-acme answered the ping, so the CA can reach it for this name',
        'FAIL  api.example.com',
        '      dns:     (no address)',
        '      problem: DNS has no address for api.example.com: add an A or AAAA record that points at marathon-lb',
        '',
        '1 of 2 names do not reach marathon-acme',
        '',
      ].join('\n'),
    );
  });

  it("prints the label check's findings under each name, and which app it checked against", () => {
    const text = formatRoutingChecks(
      [
        {
          name: 'api.example.com',
          ok: false,
          addresses: ['203.0.113.5'],
          hops: ['http://api.example.com/.well-known/acme-challenge/ping'],
          kind: 'label-conflict',
          reason: 'app /api (port 0) redirects ...',
          labels: [{ name: 'api.example.com', severity: 'breaks', appId: '/api', portIndex: 0, reason: 'app /api (port 0) redirects ...' }],
        },
        {
          name: 'zoo.example.com',
          ok: true,
          addresses: ['203.0.113.5'],
          hops: ['http://zoo.example.com/.well-known/acme-challenge/ping'],
          labels: [{ name: 'zoo.example.com', severity: 'tie', appId: '/zoo', portIndex: 0, reason: 'app /zoo (port 0) ... same weight' }],
        },
      ],
      { group: 'external', acme: { appId: '/marathon-acme', portIndex: 0, weight: 1 }, problems: [], findings: [], recommendedWeight: 100 },
    );
    assert.equal(
      text,
      [
        'FAIL  api.example.com',
        '      dns:     203.0.113.5',
        '      fetched: http://api.example.com/.well-known/acme-challenge/ping',
        "      answer:  marathon-acme answered the ping, but marathon-lb's labels put another rule first:",
        '      labels:  app /api (port 0) redirects ...',
        'ok    zoo.example.com',
        '      dns:     203.0.113.5',
        '      fetched: http://zoo.example.com/.well-known/acme-challenge/ping',
        '      answer:  marathon-acme answered the ping, so the CA can reach it for this name',
        '      warning: app /zoo (port 0) ... same weight',
        '',
        '1 of 2 names do not reach marathon-acme',
        "labels checked against marathon-acme's app /marathon-acme (port 0, weight 1) in group external; recommended weight: 100",
        '',
      ].join('\n'),
    );
  });
});
