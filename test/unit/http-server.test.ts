import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
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

  it('never serves a token through path tricks', async () => {
    responder.add('abc', 'abc.key');
    // Sent raw: an HTTP client library would normalise the dot segments away before sending.
    const raw = await rawGet(base, '/.well-known/acme-challenge/../acme-challenge/abc');
    assert.match(raw, /^HTTP\/1\.1 404 /);
    for (const path of ['/.well-known/acme-challenge/abc/', '/.well-known/acme-challenge/%61bc', '/.well-known/acme-challenge/abc%00']) {
      assert.equal((await get(path)).status, 404, path);
    }
    assert.equal((await get('/.well-known/acme-challenge/abc?x=1')).status, 200);
    responder.remove('abc');
  });

  it('reports a port it cannot bind with the address in the message', async () => {
    const other = createHttpServer({ responder, health: () => health, logger: silentLogger() });
    const port = Number(new URL(base).port);
    await assert.rejects(listen(other, '127.0.0.1', port), new RegExp(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`));
  });
});

function rawGet(base: string, path: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => { resolve(data); });
    socket.on('error', reject);
  });
}

describe('HTTP server under hostile clients', () => {
  const responder = new ChallengeResponder();
  let server: Server;
  let base = '';

  before(async () => {
    server = createHttpServer({ responder, health: () => ({ healthy: true, problems: [], details: {} }), logger: silentLogger(), headersTimeoutMs: 500 });
    const address = await listen(server, '127.0.0.1', 0);
    base = `http://127.0.0.1:${address.port}`;
  });
  after(() => closeServer(server));

  it('answers 431 to oversized headers and URLs, and keeps serving', async () => {
    const bigHeader = await request(`${base}/health`, { headers: { 'x-junk': 'a'.repeat(64 * 1024) } });
    assert.equal(bigHeader.statusCode, 431);
    await bigHeader.body.dump();
    const raw = await rawGet(base, `/.well-known/acme-challenge/${'a'.repeat(70 * 1024)}`);
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.equal((await request(`${base}/health`)).statusCode, 200);
  });

  it('drops a client that never finishes its headers', async () => {
    const url = new URL(base);
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const started = Date.now();
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      });
      socket.on('close', () => { resolve(Date.now() - started); });
      socket.on('error', reject);
      socket.resume();
    });
    assert.ok(closedAfter < 5_000, `closed after ${closedAfter} ms`);
  });

  it('keeps answering with hundreds of idle connections open', async (t) => {
    const url = new URL(base);
    const sockets = await Promise.all(
      Array.from({ length: 300 }, () => new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => { resolve(socket); });
        socket.on('error', reject);
      })),
    );
    t.after(() => { for (const s of sockets) s.destroy(); });
    responder.add('tok', 'tok.key');
    const res = await request(`${base}/.well-known/acme-challenge/tok`);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'tok.key');
  });
});
