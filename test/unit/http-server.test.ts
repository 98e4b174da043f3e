import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Server } from 'node:http';
import { request } from 'undici';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { closeServer, createHttpServer, listen, type HealthReport } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';

describe('HTTP server', () => {
  const responder = new ChallengeResponder();
  let health: HealthReport = { healthy: true, problems: [], details: { lastSyncAt: 'now' } };
  let server: Server;
  let base = '';

  before(async () => {
    server = createHttpServer({ responder, health: () => health, logger: silentLogger() });
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

  it('reports health as 200 JSON when healthy and 503 JSON naming the reason when not', async () => {
    health = { healthy: true, problems: [], details: { lastSyncAt: 'now' } };
    let res = await get('/health');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), { status: 'ok', lastSyncAt: 'now' });
    health = { healthy: false, problems: ["I'm sad :( 😿"], details: {} };
    res = await get('/health');
    assert.equal(res.status, 503);
    assert.deepEqual(JSON.parse(res.body), { status: 'unhealthy', problems: ["I'm sad :( 😿"] });
  });

  it('answers HEAD wherever GET works, without a body', async () => {
    health = { healthy: true, problems: [], details: {} };
    responder.add('tok', 'tok.key');
    for (const path of ['/health', '/.well-known/acme-challenge/ping', '/.well-known/acme-challenge/tok']) {
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
    assert.equal((await get('/')).status, 404);
    assert.equal((await get('/metrics')).status, 404);
  });

  it('reports a port it cannot bind with the address in the message', async () => {
    const other = createHttpServer({ responder, health: () => health, logger: silentLogger() });
    const port = Number(new URL(base).port);
    await assert.rejects(listen(other, '127.0.0.1', port), new RegExp(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`));
  });
});
