import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Server } from 'node:http';
import { request } from 'undici';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { HTTP_ROUTES, closeServer, createHttpServer, listen, type HealthReport, type MetricsSource, type StatusSource } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { StatusView } from '../../src/status/page.js';

const VIEW: StatusView = {
  generatedAt: '2026-12-01T12:00:00.000Z',
  version: '1.0.0',
  marathon: { level: 'ok', summary: 'synced', urls: ['http://marathon:8080'], eventStream: 'attached', lastSyncAt: null },
  account: { level: 'ok', summary: 'registered', directory: 'https://acme.example/dir' },
  lbs: [],
  delivery: null,
  cas: [],
  certificates: [],
};

describe('HTTP server', () => {
  const responder = new ChallengeResponder();
  let health: HealthReport = { healthy: true, problems: [], details: { lastSyncAt: 'now' } };
  const metrics = new Metrics({ defaultMetrics: false });
  let server: Server;
  let base = '';

  before(async () => {
    server = createHttpServer({ responder, health: () => health, metrics, status: { view: () => Promise.resolve(VIEW) }, logger: silentLogger() });
    const address = await listen(server, '127.0.0.1', 0);
    base = `http://127.0.0.1:${address.port}`;
  });
  after(() => closeServer(server));

  const get = async (path: string, method: 'GET' | 'HEAD' | 'POST' | 'DELETE' = 'GET') => {
    const res = await request(`${base}${path}`, { method });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  it('answers 404 for an unknown token', async () => {
    assert.equal((await get('/.well-known/acme-challenge/foo')).status, 404);
  });

  it('serves a pending key authorization as text/plain, and only while pending', async () => {
    responder.add('foo', 'foo.thumbprint');
    const res = await get('/.well-known/acme-challenge/foo');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain');
    assert.equal(res.body, 'foo.thumbprint');
    assert.equal((await get('/.well-known/acme-challenge/baz')).status, 404);
    responder.remove('foo');
    assert.equal((await get('/.well-known/acme-challenge/foo')).status, 404);
  });

  it('answers the routing ping exactly as the original', async () => {
    const res = await get('/.well-known/acme-challenge/ping');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(res.body, '{"message": "pong"}');
  });

  it('answers /ready 200 when nothing needs attention and 503 naming the problems otherwise, as /health did before', async () => {
    health = { healthy: true, problems: [], details: { lastSyncAt: 'now' } };
    let res = await get('/ready');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), { status: 'ok', lastSyncAt: 'now' });
    health = { healthy: false, problems: ["I'm sad :( 😿"], details: {} };
    res = await get('/ready');
    assert.equal(res.status, 503);
    assert.deepEqual(JSON.parse(res.body), { status: 'unhealthy', problems: ["I'm sad :( 😿"] });
  });

  it('answers /health (liveness) 200 whatever the problems, and tells them', async () => {
    health = { healthy: true, problems: [], details: { lastSyncAt: 'now' } };
    let res = await get('/health');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), { status: 'ok', ready: true, problems: [], lastSyncAt: 'now' });
    health = { healthy: false, problems: ['last sync with Marathon failed: ECONNREFUSED'], details: { lastSyncAt: null } };
    res = await get('/health');
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { status: 'ok', ready: false, problems: ['last sync with Marathon failed: ECONNREFUSED'], lastSyncAt: null });
  });

  it('redirects / to the status page, relative so that a path prefix in front is kept', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await get('/', method);
      assert.equal(res.status, 302, method);
      assert.equal(res.headers['location'], 'status', method);
    }
    assert.equal((await get('/?x=1')).headers['location'], 'status');
    assert.equal((await get('/', 'POST')).status, 405);
  });

  it('serves the metrics in the Prometheus text format', async () => {
    metrics.lbSignal('http://lb1:9090', 'success');
    const res = await get('/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], metrics.contentType);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.body, /^# HELP /);
    assert.match(res.body, /^marathon_acme_lb_signals_total\{lb="http:\/\/lb1:9090",outcome="success"\} 1$/m);
    assert.equal((await get('/metrics?name[]=x')).status, 200, 'a query string does not change the route');
  });

  it('answers 500 when the metrics cannot be rendered, and 404 for /metrics on a server without them', async (t) => {
    const failing: MetricsSource = { contentType: metrics.contentType, render: () => Promise.reject(new Error('collect failed')) };
    const broken = createHttpServer({ responder, health: () => health, metrics: failing, logger: silentLogger() });
    const plain = createHttpServer({ responder, health: () => health, logger: silentLogger() });
    t.after(() => Promise.all([closeServer(broken), closeServer(plain)]));
    const brokenPort = (await listen(broken, '127.0.0.1', 0)).port;
    const plainPort = (await listen(plain, '127.0.0.1', 0)).port;
    const res = await request(`http://127.0.0.1:${brokenPort}/metrics`);
    assert.equal(res.statusCode, 500);
    assert.equal(await res.body.text(), 'Internal Server Error\n');
    const missing = await request(`http://127.0.0.1:${plainPort}/metrics`);
    await missing.body.dump();
    assert.equal(missing.statusCode, 404);
  });

  it('serves the status page as HTML and the same view as JSON', async () => {
    const page = await get('/status');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(page.body, /<title>marathon-acme status<\/title>/);
    const json = await get('/status.json');
    assert.equal(json.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(json.body), VIEW);
    assert.equal((await get('/status', 'POST')).status, 405);
    assert.equal((await get('/status/x')).status, 404);
  });

  it('answers 500 when the status cannot be read, and 404 for /status and / on a server without it', async (t) => {
    const failing: StatusSource = { view: () => Promise.reject(new Error('EACCES')) };
    const broken = createHttpServer({ responder, health: () => health, status: failing, logger: silentLogger() });
    const plain = createHttpServer({ responder, health: () => health, logger: silentLogger() });
    t.after(() => Promise.all([closeServer(broken), closeServer(plain)]));
    const brokenPort = (await listen(broken, '127.0.0.1', 0)).port;
    const plainPort = (await listen(plain, '127.0.0.1', 0)).port;
    const noRedirect = await request(`http://127.0.0.1:${plainPort}/`);
    await noRedirect.body.dump();
    assert.equal(noRedirect.statusCode, 404, 'no redirect to a page that is not served');
    for (const path of ['/status', '/status.json']) {
      const res = await request(`http://127.0.0.1:${brokenPort}${path}`);
      assert.equal(res.statusCode, 500);
      assert.match(await res.body.text(), /storage directory could not be read/);
      const missing = await request(`http://127.0.0.1:${plainPort}${path}`);
      await missing.body.dump();
      assert.equal(missing.statusCode, 404);
    }
  });

  it('serves every path HTTP_ROUTES lists, the list README.md\'s endpoint table is checked against', async () => {
    health = { healthy: true, problems: [], details: {} };
    responder.add('tok', 'tok.key');
    for (const route of HTTP_ROUTES) {
      const path = route.replace('<token>', 'tok');
      const res = await get(path);
      assert.ok(res.status === 200 || res.status === 302, `${path}: ${res.status}`);
    }
    responder.remove('tok');
  });

  it('answers HEAD wherever GET works, without a body', async () => {
    health = { healthy: true, problems: [], details: {} };
    responder.add('tok', 'tok.key');
    for (const path of ['/health', '/ready', '/metrics', '/.well-known/acme-challenge/ping', '/.well-known/acme-challenge/tok']) {
      const res = await get(path, 'HEAD');
      assert.equal(res.status, 200, path);
      assert.equal(res.body, '');
      assert.ok(Number(res.headers['content-length']) > 0);
    }
    responder.remove('tok');
  });

  it('refuses other methods on known paths with 405 and 404 elsewhere', async () => {
    const res = await get('/.well-known/acme-challenge/ping', 'POST');
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'GET, HEAD');
    assert.equal((await get('/health', 'DELETE')).status, 405);
    const metricsPost = await get('/metrics', 'POST');
    assert.equal(metricsPost.status, 405);
    assert.equal(metricsPost.headers['allow'], 'GET, HEAD');
    assert.equal((await get('/index.html')).status, 404);
    assert.equal((await get('/metrics/x')).status, 404);
    assert.equal((await get('/ready/')).status, 404);
  });

  it('sends Content-Length and Cache-Control: no-store with every answer, GET or HEAD', async () => {
    health = { healthy: true, problems: [], details: {} };
    responder.add('tok', 'tok.key');
    const cases = [
      ['/.well-known/acme-challenge/ping', 'GET', 200, 'application/json'],
      ['/.well-known/acme-challenge/tok', 'GET', 200, 'text/plain'],
      ['/.well-known/acme-challenge/nope', 'GET', 404, 'text/plain; charset=utf-8'],
      ['/health', 'GET', 200, 'application/json'],
      ['/ready', 'GET', 200, 'application/json'],
      ['/status.json', 'GET', 200, 'application/json'],
      ['/', 'GET', 302, 'text/plain; charset=utf-8'],
      ['/health', 'POST', 405, 'text/plain; charset=utf-8'],
      ['/nothing-here', 'GET', 404, 'text/plain; charset=utf-8'],
    ] as const;
    for (const [path, method, status, contentType] of cases) {
      const full = await get(path, method);
      const what = `${method} ${path}`;
      assert.equal(full.status, status, what);
      assert.equal(full.headers['content-type'], contentType, what);
      assert.equal(full.headers['cache-control'], 'no-store', what);
      assert.equal(Number(full.headers['content-length']), Buffer.byteLength(full.body), what);
      assert.equal(full.headers['allow'], status === 405 ? 'GET, HEAD' : undefined, what);
      if (method === 'GET') {
        const head = await get(path, 'HEAD');
        assert.equal(head.status, status, `HEAD ${path}`);
        assert.equal(head.body, '', `HEAD ${path}`);
        assert.equal(head.headers['content-length'], full.headers['content-length'], `HEAD ${path}`);
        assert.equal(head.headers['cache-control'], 'no-store', `HEAD ${path}`);
      }
    }
    responder.remove('tok');
  });

  it('reports a port it cannot bind with the address in the message', async () => {
    const other = createHttpServer({ responder, health: () => health, logger: silentLogger() });
    const port = Number(new URL(base).port);
    await assert.rejects(listen(other, '127.0.0.1', port), new RegExp(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`));
  });
});
