import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcmeProblemError, problemFromObject, problemFromResponse } from '../../src/acme/protocol/problem.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const URL = 'https://ca.test/acme/new-order';

function answer(status: number, body: string, extra: { contentType?: string | undefined; retryAfter?: string | undefined } = {}): AcmeProblemError {
  return problemFromResponse({
    status,
    contentType: 'contentType' in extra ? extra.contentType : 'application/problem+json',
    body,
    retryAfter: extra.retryAfter,
    now: NOW,
    url: URL,
    endpoint: 'newOrder',
  });
}

describe('problemFromResponse: problem documents', () => {
  it('rateLimited 429: type without the ACME prefix, detail, status, Retry-After in ms', () => {
    const err = answer(429, JSON.stringify({ type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates for example.com', status: 429 }), { retryAfter: '3600' });
    assert.ok(err instanceof AcmeProblemError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'AcmeProblemError');
    assert.equal(err.type, 'rateLimited');
    assert.equal(err.detail, 'too many certificates for example.com');
    assert.equal(err.status, 429);
    assert.equal(err.retryAfterMs, 3_600_000);
    assert.equal(err.url, URL);
    assert.equal(err.endpoint, 'newOrder');
    assert.deepEqual(err.subproblems, []);
    assert.deepEqual(err.toProblem(), { type: 'rateLimited', detail: 'too many certificates for example.com', status: 429 });
  });

  it('the message names endpoint, URL, status, type and detail', () => {
    const err = answer(400, JSON.stringify({ type: 'urn:ietf:params:acme:error:badNonce', detail: 'JWS has an invalid anti-replay nonce' }));
    assert.equal(err.message, `ACME newOrder ${URL} answered 400 badNonce: JWS has an invalid anti-replay nonce`);
  });

  it('Retry-After as an HTTP date counts from `now`; an unreadable one is ignored', () => {
    const body = JSON.stringify({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'down for maintenance' });
    assert.equal(answer(503, body, { retryAfter: 'Tue, 01 Dec 2026 12:02:00 GMT' }).retryAfterMs, 120_000);
    assert.equal(answer(503, body, { retryAfter: 'soon' }).retryAfterMs, undefined);
    assert.equal(answer(503, body).retryAfterMs, undefined);
  });

  it('keeps a type outside the ACME namespace whole', () => {
    const err = answer(403, JSON.stringify({ type: 'https://ca.test/problems/policy', detail: 'no' }));
    assert.equal(err.type, 'https://ca.test/problems/policy');
  });

  it('reads subproblems with their identifiers, skipping entries that are not objects', () => {
    const body = JSON.stringify({
      type: 'urn:ietf:params:acme:error:rejectedIdentifier',
      detail: 'Some of the identifiers requested were rejected',
      subproblems: [
        { type: 'urn:ietf:params:acme:error:malformed', detail: 'Invalid underscore in DNS name "_example.org"', identifier: { type: 'dns', value: '_example.org' } },
        { type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'This CA will not issue for "example.net"', identifier: { type: 'dns', value: 'example.net' }, extra: 1 },
        { detail: 'no identifier here', identifier: 'example.com' },
        'not a problem',
        null,
      ],
    });
    const err = answer(400, body);
    assert.deepEqual(err.subproblems, [
      { type: 'malformed', detail: 'Invalid underscore in DNS name "_example.org"', identifier: { type: 'dns', value: '_example.org' } },
      { type: 'rejectedIdentifier', detail: 'This CA will not issue for "example.net"', identifier: { type: 'dns', value: 'example.net' } },
      { type: undefined, detail: 'no identifier here', identifier: undefined },
    ]);
    assert.match(err.message, /_example\.org: malformed Invalid underscore/);
    assert.match(err.message, /example\.net: rejectedIdentifier This CA will not issue/);
  });

  it('accepts a problem sent as plain application/json, and ignores unknown members', () => {
    const err = answer(404, JSON.stringify({ type: 'urn:ietf:params:acme:error:accountDoesNotExist', detail: 'No account', instance: '/x', future: { a: 1 } }), { contentType: 'application/json' });
    assert.equal(err.type, 'accountDoesNotExist');
    assert.equal(err.detail, 'No account');
  });

  it('a detail but no type: type undefined, detail kept', () => {
    const err = answer(500, JSON.stringify({ detail: 'something broke' }));
    assert.equal(err.type, undefined);
    assert.equal(err.detail, 'something broke');
  });

  it('caps a huge detail', () => {
    const err = answer(400, JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'x'.repeat(100_000) }));
    assert.ok(err.detail.length <= 1_001, `${err.detail.length} chars`);
    assert.ok(err.detail.startsWith('xxxx'));
  });
});

describe('problemFromResponse: answers that are not problem documents', () => {
  it('an HTML error page from a proxy: no type, the status and the text of the page', () => {
    const html = '<html>\r\n<head><title>502 Bad Gateway</title><style>body { color: red }</style></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>';
    const err = answer(502, html, { contentType: 'text/html' });
    assert.equal(err.type, undefined);
    assert.equal(err.status, 502);
    assert.equal(err.detail, 'HTTP 502 without a problem document: 502 Bad Gateway 502 Bad Gateway nginx');
  });

  it('an empty body says so', () => {
    const err = answer(503, '', { contentType: undefined, retryAfter: '30' });
    assert.equal(err.type, undefined);
    assert.equal(err.detail, 'HTTP 503 without a problem document (empty body)');
    assert.equal(err.retryAfterMs, 30_000);
  });

  it('truncated JSON is quoted, not parsed', () => {
    const err = answer(500, '{"type":"urn:ietf:params:acme:error:serverInternal","det');
    assert.equal(err.type, undefined);
    assert.equal(err.detail, 'HTTP 500 without a problem document: {"type":"urn:ietf:params:acme:error:serverInternal","det');
  });

  it('JSON that is not a problem (an array, an object without type or detail) is quoted', () => {
    assert.equal(answer(500, '[1,2]').type, undefined);
    const err = answer(500, '{"status":"valid"}');
    assert.equal(err.type, undefined);
    assert.match(err.detail, /^HTTP 500 without a problem document: \{"status":"valid"\}$/);
  });

  it('a long or binary body is cut short and stripped of control characters', () => {
    const err = answer(500, `\u0000\u0001${'garbage '.repeat(1_000)}`, { contentType: 'application/octet-stream' });
    assert.ok(err.detail.length < 300, `${err.detail.length} chars`);
    assert.doesNotMatch(err.detail, /\p{Cc}/u);
    assert.ok(err.detail.endsWith('…'));
  });
});

describe('problemFromObject', () => {
  const context = { url: 'https://ca.test/acme/chall/abc', endpoint: 'challenge' as const };

  it("turns an invalid challenge's error into a problem without an HTTP status", () => {
    const err = problemFromObject({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'Invalid response from http://example.com/.well-known/acme-challenge/x: 404', status: 403 }, context);
    assert.ok(err instanceof AcmeProblemError);
    assert.equal(err.type, 'unauthorized');
    assert.equal(err.status, undefined);
    assert.equal(err.retryAfterMs, undefined);
    assert.equal(err.url, context.url);
    assert.equal(err.endpoint, 'challenge');
    assert.deepEqual(err.toProblem(), { type: 'unauthorized', detail: 'Invalid response from http://example.com/.well-known/acme-challenge/x: 404', status: undefined });
    assert.equal(err.message, 'ACME challenge https://ca.test/acme/chall/abc unauthorized: Invalid response from http://example.com/.well-known/acme-challenge/x: 404');
  });

  it('gives nothing when there is no error object', () => {
    for (const value of [undefined, null, 'failed', 42, ['x']]) assert.equal(problemFromObject(value, context), undefined, String(value));
  });

  it('an error object with neither type nor detail still makes a problem', () => {
    const err = problemFromObject({ something: 'new' }, context);
    assert.equal(err?.type, undefined);
    assert.equal(err?.detail, '');
  });
});
