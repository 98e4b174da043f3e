import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { after, afterEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import type { AcmeEndpoint } from '../../src/acme/protocol/endpoints.js';
import { accountSigner } from '../../src/acme/protocol/jws.js';
import { AcmeProblemError } from '../../src/acme/protocol/problem.js';
import { AcmeTransport, AcmeTransportError, parseLinks } from '../../src/acme/protocol/transport.js';
import { ManualClock } from '../support/manual-clock.js';
import { freePort } from '../support/ports.js';
import { answerJson, answerProblem, ScriptedAcme, type RecordedRequest } from '../support/scripted-acme.js';

const signer = accountSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const agent = new Agent();
after(() => agent.close());

let server: ScriptedAcme | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/**
 * A CA that hands out numbered nonces (`head1`, `post1`, ...) on HEAD /new-nonce and on every POST
 * answer, and answers POSTs with `post`, which gets the nonce to attach.
 */
async function nonceServer(post: (req: RecordedRequest, res: ServerResponse, nonce: string) => void): Promise<{ ca: ScriptedAcme; issued: string[] }> {
  const issued: string[] = [];
  const fresh = (kind: string): string => {
    const nonce = `${kind}${issued.filter((n) => n.startsWith(kind)).length + 1}`;
    issued.push(nonce);
    return nonce;
  };
  const ca = await ScriptedAcme.start((req, res) => {
    if (req.method === 'HEAD' && req.path === '/new-nonce') {
      res.writeHead(200, { 'replay-nonce': fresh('head'), 'cache-control': 'no-store' });
      res.end();
      return;
    }
    post(req, res, fresh('post'));
  });
  server = ca;
  return { ca, issued };
}

function transport(ca: ScriptedAcme, options: { clock?: ManualClock; timeoutMs?: number; maxBadNonceRetries?: number; seen?: AcmeEndpoint[] } = {}): AcmeTransport {
  const t = new AcmeTransport({
    dispatcher: agent,
    timeoutMs: options.timeoutMs ?? 5_000,
    userAgent: 'marathon-acme/test',
    clock: options.clock ?? new ManualClock(1_700_000_000_000),
    onRequest: (endpoint) => options.seen?.push(endpoint),
    maxBadNonceRetries: options.maxBadNonceRetries,
  });
  t.setNewNonceUrl(ca.url('/new-nonce'));
  return t;
}

describe('AcmeTransport nonces', () => {
  it('signs each request with the nonce of the previous answer, asking newNonce only when none is left', async () => {
    const { ca, issued } = await nonceServer((_req, res, nonce) => {
      answerJson(res, 200, {}, { 'replay-nonce': nonce });
    });
    const t = transport(ca);
    for (let i = 0; i < 3; i++) await t.signedPost(ca.url('/thing'), 'order', signer, 'https://ca.test/acct/1', undefined);
    assert.equal(ca.count('HEAD', '/new-nonce'), 1);
    assert.deepEqual(ca.sentNonces(), ['head1', 'post1', 'post2']);
    assert.deepEqual(issued, ['head1', 'post1', 'post2', 'post3']);
  });

  it('drops left-over nonces older than 30 s and asks for a fresh one', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { ca } = await nonceServer((_req, res, nonce) => {
      answerJson(res, 200, {}, { 'replay-nonce': nonce });
    });
    const t = transport(ca, { clock });
    await t.signedPost(ca.url('/thing'), 'order', signer, 'kid', undefined);
    await clock.advance(31_000);
    await t.signedPost(ca.url('/thing'), 'order', signer, 'kid', undefined);
    assert.equal(ca.count('HEAD', '/new-nonce'), 2);
    assert.deepEqual(ca.sentNonces(), ['head1', 'head2']);
  });

  it('retries badNonce with the nonce that came with the error answer', async () => {
    let posts = 0;
    const { ca } = await nonceServer((_req, res, nonce) => {
      posts += 1;
      if (posts === 1) answerProblem(res, 400, 'badNonce', { 'replay-nonce': nonce });
      else answerJson(res, 200, { ok: true }, { 'replay-nonce': nonce });
    });
    const response = await transport(ca).signedPost(ca.url('/thing'), 'newOrder', signer, 'kid', { a: 1 });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, { ok: true });
    assert.deepEqual(ca.sentNonces(), ['head1', 'post1']);
    assert.equal(ca.count('HEAD', '/new-nonce'), 1);
  });

  it('never sends a nonce twice, even when the CA hands back the one it just refused', async () => {
    let posts = 0;
    const { ca } = await nonceServer((req, res) => {
      posts += 1;
      const sent = String(req.jws?.protected['nonce']);
      if (posts <= 2) answerProblem(res, 400, 'badNonce', { 'replay-nonce': sent });
      else answerJson(res, 200, {});
    });
    await transport(ca).signedPost(ca.url('/thing'), 'order', signer, 'kid', undefined);
    const sent = ca.sentNonces();
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent).size, 3, `nonces sent: ${sent.join(', ')}`);
    assert.equal(ca.count('HEAD', '/new-nonce'), 3, 'each retry needed a fresh nonce');
  });

  it('gives up after maxBadNonceRetries with the badNonce problem', async () => {
    const { ca } = await nonceServer((_req, res, nonce) => {
      answerProblem(res, 400, 'badNonce', { 'replay-nonce': nonce });
    });
    await assert.rejects(transport(ca, { maxBadNonceRetries: 3 }).signedPost(ca.url('/thing'), 'order', signer, 'kid', undefined), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.type, 'badNonce');
      assert.equal(err.status, 400);
      return true;
    });
    assert.equal(ca.count('POST', '/thing'), 4);
  });

  it('signs with kid or, without one, with the JWK, and sends POST-as-GET as an empty payload', async () => {
    const { ca } = await nonceServer((_req, res, nonce) => {
      answerJson(res, 200, {}, { 'replay-nonce': nonce });
    });
    const t = transport(ca);
    await t.signedPost(ca.url('/new-acct'), 'newAccount', signer, undefined, { onlyReturnExisting: true });
    await t.signedPost(ca.url('/order/1'), 'order', signer, 'https://ca.test/acct/1', undefined);
    const [first, second] = ca.requests.filter((r) => r.method === 'POST');
    const [a, b] = [first?.jws, second?.jws];
    assert.ok(a !== undefined && b !== undefined && second !== undefined);
    assert.deepEqual(a.protected['jwk'], signer.jwk);
    assert.equal(a.protected['kid'], undefined);
    assert.equal(a.protected['url'], ca.url('/new-acct'));
    assert.deepEqual(a.payload, { onlyReturnExisting: true });
    assert.equal(b.protected['kid'], 'https://ca.test/acct/1');
    assert.equal(b.protected['jwk'], undefined);
    assert.equal(b.payload, undefined);
    assert.equal(second.headers['content-type'], 'application/jose+json');
    assert.equal(second.headers['user-agent'], 'marathon-acme/test');
  });
});

describe('AcmeTransport failures', () => {
  it('returns 429 as a rateLimited problem with its Retry-After, without retrying, and keeps its nonce', async () => {
    let posts = 0;
    const { ca } = await nonceServer((_req, res, nonce) => {
      posts += 1;
      if (posts === 1) answerProblem(res, 429, 'rateLimited', { 'replay-nonce': nonce, 'retry-after': '120' });
      else answerJson(res, 200, {}, { 'replay-nonce': nonce });
    });
    const t = transport(ca);
    await assert.rejects(t.signedPost(ca.url('/new-order'), 'newOrder', signer, 'kid', {}), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.type, 'rateLimited');
      assert.equal(err.status, 429);
      assert.equal(err.retryAfterMs, 120_000);
      assert.equal(err.endpoint, 'newOrder');
      assert.equal(err.url, ca.url('/new-order'));
      return true;
    });
    assert.equal(ca.count('POST', '/new-order'), 1, 'not retried');
    await t.signedPost(ca.url('/new-order'), 'newOrder', signer, 'kid', {});
    assert.deepEqual(ca.sentNonces(), ['head1', 'post1'], "the 429 answer's nonce signs the next request");
  });

  it('turns an HTML 502 page into a problem with a readable detail, without retrying', async () => {
    const page = '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>';
    const { ca } = await nonceServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end(page);
    });
    await assert.rejects(transport(ca).signedPost(ca.url('/finalize/1'), 'finalize', signer, 'kid', {}), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.type, undefined);
      assert.equal(err.status, 502);
      assert.match(err.detail, /502 Bad Gateway/);
      assert.match(err.detail, /nginx/);
      assert.doesNotMatch(err.detail, /</);
      return true;
    });
    assert.equal(ca.count('POST', '/finalize/1'), 1);
  });

  it('reports a 2xx answer whose JSON is broken as an unusable answer', async () => {
    const { ca } = await nonceServer((_req, res, nonce) => {
      res.writeHead(200, { 'content-type': 'application/json', 'replay-nonce': nonce });
      res.end('{"status": "valid",');
    });
    await assert.rejects(transport(ca).signedPost(ca.url('/order/1'), 'order', signer, 'kid', undefined), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.status, 200);
      assert.equal(err.type, undefined);
      assert.match(err.detail, /not the JSON/);
      return true;
    });
  });

  it('refuses a body larger than 1 MiB', async () => {
    const ca = await ScriptedAcme.start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`"${'x'.repeat(1_100_000)}"`);
    });
    server = ca;
    await assert.rejects(transport(ca).get(ca.url('/dir'), 'directory'), /larger than 1048576 bytes/);
  });

  it('fails with AcmeTransportError("timeout") when the CA does not answer in time, and times the attempt', async () => {
    const ca = await ScriptedAcme.start(() => {
      // Never answers.
    });
    server = ca;
    const seen: AcmeEndpoint[] = [];
    await assert.rejects(transport(ca, { timeoutMs: 300, seen }).get(ca.url('/dir'), 'directory'), (err: unknown) => {
      assert.ok(err instanceof AcmeTransportError);
      assert.equal(err.failure, 'timeout');
      assert.equal(err.url, ca.url('/dir'));
      assert.equal(err.endpoint, 'directory');
      assert.match(err.message, /GET http:\/\/127\.0\.0\.1:\d+\/dir .*within 300 ms/);
      return true;
    });
    assert.deepEqual(seen, ['directory']);
  });

  it('fails with AcmeTransportError("network") when the connection is refused', async () => {
    const port = await freePort();
    const t = new AcmeTransport({ dispatcher: agent, timeoutMs: 5_000, userAgent: 'marathon-acme/test', clock: new ManualClock() });
    t.setNewNonceUrl(`http://127.0.0.1:${port}/new-nonce`);
    await assert.rejects(t.signedPost(`http://127.0.0.1:${port}/new-acct`, 'newAccount', signer, undefined, {}), (err: unknown) => {
      assert.ok(err instanceof AcmeTransportError);
      assert.equal(err.failure, 'network');
      assert.equal(err.endpoint, 'newNonce', 'the nonce request was the one that failed');
      assert.match(err.message, /HEAD .*ECONNREFUSED/);
      return true;
    });
  });
});

describe('AcmeTransport answers', () => {
  it('resolves Location and Link against the request URL, reads Retry-After, and times every request', async () => {
    const { ca } = await nonceServer((_req, res, nonce) => {
      answerJson(res, 201, { status: 'pending' }, {
        'replay-nonce': nonce,
        location: '/order/1',
        link: '</cert/1/1>;rel="alternate", <http://ca.test/dir>; rel=index',
        'retry-after': '3',
      });
    });
    const seen: AcmeEndpoint[] = [];
    const response = await transport(ca, { seen }).signedPost(ca.url('/new-order'), 'newOrder', signer, 'kid', {});
    assert.equal(response.status, 201);
    assert.equal(response.location, ca.url('/order/1'));
    assert.deepEqual(response.links, [
      { url: ca.url('/cert/1/1'), rel: 'alternate' },
      { url: 'http://ca.test/dir', rel: 'index' },
    ]);
    assert.equal(response.retryAfterMs, 3_000);
    assert.deepEqual(seen, ['newNonce', 'newOrder']);
  });

  it('parses several Link headers and several relation types in one link', () => {
    assert.deepEqual(parseLinks(['<a>;rel="alternate up"', '<https://x.test/b>; title="t, u"; rel=alternate'], 'https://ca.test/cert/1'), [
      { url: 'https://ca.test/cert/a', rel: 'alternate' },
      { url: 'https://ca.test/cert/a', rel: 'up' },
      { url: 'https://x.test/b', rel: 'alternate' },
    ]);
  });
});
