import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeDirectory, judgeDirectoryUrl, type DirectoryAnswer, type DirectoryVerdict } from '../../src/acme/directory-verdict.js';

const URL = 'https://ca.example/directory';
const V2 = 'https://acme-v02.api.letsencrypt.org/directory';
const STAGING_V2 = 'https://acme-staging-v02.api.letsencrypt.org/directory';

const DIRECTORY = JSON.stringify({
  newNonce: 'https://ca.example/new-nonce',
  newAccount: 'https://ca.example/new-acct',
  newOrder: 'https://ca.example/new-order',
  revokeCert: 'https://ca.example/revoke-cert',
  keyChange: 'https://ca.example/key-change',
  meta: { termsOfService: 'https://ca.example/tos' },
});

/** What Let's Encrypt's v1 directory looked like (Boulder before RFC 8555). */
const V1_DIRECTORY = JSON.stringify({
  'key-change': 'https://ca.example/acme/key-change',
  'new-authz': 'https://ca.example/acme/new-authz',
  'new-cert': 'https://ca.example/acme/new-cert',
  'new-reg': 'https://ca.example/acme/new-reg',
  'revoke-cert': 'https://ca.example/acme/revoke-cert',
  meta: { 'terms-of-service': 'https://ca.example/terms' },
});

function answer(status: number, body: string, contentType: string | undefined = 'application/json', url = URL): DirectoryAnswer {
  return { kind: 'answer', url, status, contentType, body };
}

function noAnswer(failure: 'timeout' | 'network', message: string, code?: string): DirectoryAnswer {
  return { kind: 'no-answer', url: URL, failure, message, code };
}

interface Case {
  what: string;
  url?: string;
  answer: DirectoryAnswer;
  kind: DirectoryVerdict['kind'];
  /** Each must appear in the reason. */
  says?: readonly (string | RegExp)[];
}

const CASES: readonly Case[] = [
  { what: 'an RFC 8555 directory', answer: answer(200, DIRECTORY), kind: 'valid' },
  { what: 'a directory served as text/plain', answer: answer(200, DIRECTORY, 'text/plain'), kind: 'valid' },
  { what: 'a directory reached through a redirect', answer: answer(200, DIRECTORY, 'application/json', 'https://ca.example/acme/directory'), kind: 'valid' },
  {
    what: 'an ACME v1 directory body on any host',
    answer: answer(200, V1_DIRECTORY),
    kind: 'permanent',
    says: ['this is an ACME v1 directory', 'switched off in 2021', `use ${V2}`, `staging: ${STAGING_V2}`],
  },
  {
    what: "Let's Encrypt's v1 host, whatever it answers",
    url: 'https://acme-v01.api.letsencrypt.org/directory',
    answer: { ...answer(200, DIRECTORY), url: 'https://acme-v01.api.letsencrypt.org/directory' },
    kind: 'permanent',
    says: ['--acme https://acme-v01.api.letsencrypt.org/directory: this is an ACME v1 directory', `use ${V2}`],
  },
  {
    what: "Let's Encrypt's v1 host even when unreachable",
    url: 'https://acme-v01.api.letsencrypt.org/directory',
    answer: { ...noAnswer('network', 'getaddrinfo ENOTFOUND', 'ENOTFOUND'), url: 'https://acme-v01.api.letsencrypt.org/directory' },
    kind: 'permanent',
    says: ['ACME v1'],
  },
  {
    what: "Let's Encrypt's v1 staging host: the staging v2 URL first",
    url: 'https://acme-staging.api.letsencrypt.org/directory',
    answer: { ...answer(404, ''), url: 'https://acme-staging.api.letsencrypt.org/directory' },
    kind: 'permanent',
    says: [`use ${STAGING_V2} (production: ${V2})`],
  },
  {
    what: 'a redirect that leads to a v1 host',
    answer: answer(200, '{}', 'application/json', 'https://acme-v01.api.letsencrypt.org/directory'),
    kind: 'permanent',
    says: ['redirected to https://acme-v01.api.letsencrypt.org/directory', 'ACME v1'],
  },
  {
    what: 'an HTML page, with its title',
    answer: answer(200, '<!DOCTYPE html>\n<html><head><title>Welcome to\n nginx!</title></head><body>…</body></html>', 'text/html; charset=utf-8'),
    kind: 'permanent',
    says: [`--acme ${URL} is not an ACME directory`, 'an HTML page titled "Welcome to nginx!"', V2],
  },
  { what: 'an HTML page sent without a content type', answer: answer(200, '  <html><body>hi</body></html>', undefined), kind: 'permanent', says: ['an HTML page'] },
  { what: 'plain text', answer: answer(200, 'hello world', 'text/plain'), kind: 'permanent', says: ['not JSON (text/plain): hello world'] },
  { what: 'an empty 200', answer: answer(200, '', undefined), kind: 'permanent', says: ['an empty body'] },
  {
    what: 'JSON without the directory entries',
    answer: answer(200, JSON.stringify({ status: 'ok', version: '1.2' })),
    kind: 'permanent',
    says: ['its JSON lacks newNonce, newAccount, newOrder', 'its keys: status, version'],
  },
  {
    what: 'a directory whose entries are not URLs',
    answer: answer(200, JSON.stringify({ newNonce: 'x', newAccount: 'https://ca.example/a', newOrder: 42 })),
    kind: 'permanent',
    says: ['lacks newNonce, newOrder'],
  },
  { what: 'a JSON array', answer: answer(200, '[1,2]'), kind: 'permanent', says: ['JSON that is not an object'] },
  { what: '404', answer: answer(404, 'not found', 'text/plain'), kind: 'permanent', says: ['answered 404', 'no ACME directory at this address'] },
  { what: '410', answer: answer(410, ''), kind: 'permanent', says: ['answered 410'] },
  { what: 'a redirect loop', answer: answer(302, ''), kind: 'permanent', says: ['redirected too often'] },
  { what: '503', answer: answer(503, '{"type":"urn:ietf:params:acme:error:serverInternal"}'), kind: 'transient', says: [`GET ${URL} answered 503`] },
  { what: '500', answer: answer(500, ''), kind: 'transient' },
  { what: '429', answer: answer(429, ''), kind: 'transient', says: ['answered 429'] },
  { what: '403 from something in front of the CA', answer: answer(403, 'Forbidden'), kind: 'transient', says: ['answered 403: Forbidden'] },
  { what: 'a timeout', answer: noAnswer('timeout', 'no answer within 30000 ms (--acme-timeout)'), kind: 'transient', says: ['no answer within 30000 ms'] },
  { what: 'a refused connection', answer: noAnswer('network', 'connect ECONNREFUSED 127.0.0.1:1 ECONNREFUSED', 'ECONNREFUSED'), kind: 'transient', says: ['ECONNREFUSED'] },
  { what: 'a DNS failure', answer: noAnswer('network', 'getaddrinfo ENOTFOUND ca.example ENOTFOUND', 'ENOTFOUND'), kind: 'transient', says: ['ENOTFOUND'] },
  {
    what: 'an untrusted certificate, with a hint at --acme-ca-file',
    answer: noAnswer('network', 'self-signed certificate DEPTH_ZERO_SELF_SIGNED_CERT', 'DEPTH_ZERO_SELF_SIGNED_CERT'),
    kind: 'transient',
    says: ['--acme-ca-file'],
  },
];

describe('judgeDirectory', () => {
  for (const c of CASES) {
    it(`${c.what}: ${c.kind}`, () => {
      const verdict = judgeDirectory(c.url ?? URL, c.answer);
      assert.equal(verdict.kind, c.kind, JSON.stringify(verdict));
      const reason = verdict.kind === 'valid' ? '' : verdict.reason;
      for (const s of c.says ?? []) {
        if (typeof s === 'string') assert.ok(reason.includes(s), `${JSON.stringify(s)} in ${JSON.stringify(reason)}`);
        else assert.match(reason, s);
      }
      assert.doesNotMatch(reason, /[\n\r]/, 'one line');
    });
  }

  it('keeps a long body to a short, single-line excerpt', () => {
    const verdict = judgeDirectory(URL, answer(502, `<h1>Bad\ngateway</h1>${'x'.repeat(5_000)}`, 'text/html'));
    const reason = verdict.kind === 'valid' ? '' : verdict.reason;
    assert.equal(verdict.kind, 'transient');
    assert.ok(reason.length < 200, reason);
  });
});

describe('judgeDirectoryUrl', () => {
  it('knows the v1 hosts without a request, and nothing else', () => {
    assert.equal(judgeDirectoryUrl('https://ACME-V01.api.letsencrypt.org./directory')?.kind, 'permanent');
    assert.equal(judgeDirectoryUrl('https://acme-staging.api.letsencrypt.org/directory')?.kind, 'permanent');
    assert.equal(judgeDirectoryUrl(V2), undefined);
    assert.equal(judgeDirectoryUrl(STAGING_V2), undefined);
    assert.equal(judgeDirectoryUrl('not a url'), undefined);
  });
});
