/**
 * The daemon's CA (AcmeCertificateAuthority) on our ACME client, against a scripted CA: the order's
 * steps, what each failure reports to the backoff (step, problem, Retry-After, transport failure),
 * the HTTP-01 answer's lifetime, the CSR, the key's encoding and the preferred chain.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { Agent } from 'undici';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { AcmeCertificateAuthority, AcmeConfigError, IssueError } from '../../src/acme/issuer.js';
import { AcmeClient } from '../../src/acme/protocol/client.js';
import type { AcmeEndpoint } from '../../src/acme/protocol/endpoints.js';
import { AcmeTransport } from '../../src/acme/protocol/transport.js';
import type { KeyType } from '../../src/config.js';
import { JumpingClock } from '../support/manual-clock.js';
import { memoryLogger } from '../support/memory-logger.js';
import { makePrivateCa } from '../support/private-ca.js';
import { freePort } from '../support/ports.js';
import { answerJson, answerProblem, startFakeCa, type RecordedRequest, type ScriptedAcme, type ScriptedAnswer } from '../support/scripted-acme.js';

const accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const agent = new Agent();
after(() => agent.close());

let server: ScriptedAcme | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** Two chains for the same (fake) leaf: the CA's default one and an alternate under another root. */
let defaultChain: string;
let otherChain: string;
before(async () => {
  const first = await makePrivateCa('Default Root');
  const other = await makePrivateCa('Other Root');
  defaultChain = first.cert + first.caPem;
  otherChain = other.cert + other.caPem;
});

const TOKEN = 'token-1';

function authz(status: string, challengeExtra: Record<string, unknown> = {}): ScriptedAnswer {
  return (_req, res, nonce) => {
    answerJson(
      res,
      200,
      {
        status,
        identifier: { type: 'dns', value: 'a.example.test' },
        challenges: [
          // A type this client does not know comes first: it must be passed over, not fail the order.
          { type: 'dns-persist-01', url: '/chall/0', status: 'pending' },
          { type: 'http-01', url: '/chall/1', token: TOKEN, status: status === 'valid' ? 'valid' : 'pending', ...challengeExtra },
        ],
      },
      { 'replay-nonce': nonce },
    );
  };
}

const newOrder: ScriptedAnswer = (req, res, nonce) => {
  const payload = req.jws?.payload as { identifiers?: unknown } | undefined;
  answerJson(res, 201, { status: 'pending', identifiers: payload?.identifiers, authorizations: ['/authz/1'], finalize: '/finalize/1' }, { 'replay-nonce': nonce, location: '/order/1' });
};

function validOrder(certificate = '/cert/1'): ScriptedAnswer {
  return (_req, res, nonce) => {
    answerJson(res, 200, { status: 'valid', identifiers: [], authorizations: ['/authz/1'], finalize: '/finalize/1', certificate }, { 'replay-nonce': nonce });
  };
}

function chain(text: () => string, headers: Record<string, string> = {}): ScriptedAnswer {
  return (_req, res, nonce) => {
    res.writeHead(200, { 'content-type': 'application/pem-certificate-chain', 'replay-nonce': nonce, ...headers });
    res.end(text());
  };
}

/** A CA that issues: newOrder → one pending authorization → http-01 → valid → finalize → chain. */
const ISSUING: Record<string, ScriptedAnswer | ScriptedAnswer[]> = {
  'POST /new-order': newOrder,
  'POST /authz/1': [authz('pending'), authz('valid')],
  'POST /chall/1': (_req, res, nonce) => {
    answerJson(res, 200, { type: 'http-01', url: '/chall/1', token: TOKEN, status: 'processing' }, { 'replay-nonce': nonce });
  },
  'POST /finalize/1': validOrder(),
  'POST /cert/1': chain(() => defaultChain),
};

interface Setup {
  keyType?: KeyType;
  profile?: string;
  preferredChain?: string;
  email?: string;
  eab?: { kid: string; hmacKey: string };
}

async function issuerFor(routes: Record<string, ScriptedAnswer | ScriptedAnswer[]>, setup: Setup = {}) {
  const { ca, directoryUrl } = await startFakeCa({ ...ISSUING, ...routes });
  server = ca;
  const clock = new JumpingClock(Date.UTC(2026, 11, 1, 12));
  const { logger, lines } = memoryLogger();
  const endpoints: AcmeEndpoint[] = [];
  const transport = new AcmeTransport({ dispatcher: agent, timeoutMs: 5_000, userAgent: 'marathon-acme/test', clock, onRequest: (endpoint) => endpoints.push(endpoint) });
  const client = new AcmeClient({ directoryUrl, accountKey, transport, clock, logger });
  const responder = new ChallengeResponder();
  const issuer = new AcmeCertificateAuthority({
    client,
    keyType: setup.keyType ?? 'ecdsa-p256',
    profile: setup.profile,
    preferredChain: setup.preferredChain,
    email: setup.email,
    eab: setup.eab,
    responder,
    logger,
    clock,
  });
  return { issuer, client, ca, responder, lines, endpoints };
}

function payloads(ca: ScriptedAcme, path: string): unknown[] {
  return ca.requests.filter((r: RecordedRequest) => r.method === 'POST' && r.path === path).map((r) => r.jws?.payload);
}

async function issueError(promise: Promise<unknown>): Promise<IssueError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof IssueError, `an IssueError, got ${String(err)}`);
    return err;
  }
  assert.fail('the order succeeded');
}

describe('AcmeCertificateAuthority orders', () => {
  for (const [keyType, header] of [
    ['ecdsa-p256', '-----BEGIN EC PRIVATE KEY-----'],
    ['rsa2048', '-----BEGIN RSA PRIVATE KEY-----'],
  ] as const) {
    it(`issues with a ${keyType} key, written as ${header.slice(11, -5)}`, async () => {
      const { issuer, responder, endpoints } = await issuerFor({}, { keyType });
      const issued = await issuer.issue(['a.example.test']);
      assert.ok(issued.keyPem.startsWith(header), issued.keyPem.slice(0, 40));
      assert.equal(issued.chainPem, defaultChain);
      assert.equal(responder.size, 0, 'nothing left to serve');
      for (const endpoint of ['directory', 'newAccount', 'newOrder', 'authz', 'challenge', 'finalize', 'cert'] as const) {
        assert.ok(endpoints.includes(endpoint), `${endpoint} in ${endpoints.join(', ')}`);
      }
    });
  }

  it('serves the key authorization from before the challenge is answered until validation is over', async () => {
    let servedWhenAnswered: string | undefined;
    const { issuer, client, responder } = await issuerFor({
      'POST /chall/1': (_req, res, nonce) => {
        servedWhenAnswered = responder.lookup(TOKEN);
        answerJson(res, 200, { type: 'http-01', url: '/chall/1', token: TOKEN, status: 'processing' }, { 'replay-nonce': nonce });
      },
    });
    await issuer.issue(['a.example.test']);
    assert.equal(servedWhenAnswered, client.keyAuthorization(TOKEN));
    assert.equal(responder.lookup(TOKEN), undefined);
  });

  it('skips an authorization the CA already holds as valid', async () => {
    const { issuer, ca } = await issuerFor({ 'POST /authz/1': authz('valid') });
    await issuer.issue(['a.example.test']);
    assert.equal(ca.count('POST', '/chall/1'), 0);
  });

  it('sends the first name as CN when it fits in 64 characters, and only in the SAN when it does not', async () => {
    const long = `${'x'.repeat(60)}.example.test`;
    for (const [names, cn] of [
      [['a.example.test', 'b.example.test'], 'CN=a.example.test'],
      [[long, 'b.example.test'], ''],
    ] as const) {
      const { issuer, ca } = await issuerFor({});
      await issuer.issue(names);
      const [finalize] = payloads(ca, '/finalize/1') as { csr: string }[];
      assert.ok(finalize !== undefined);
      const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(Buffer.from(finalize.csr, 'base64url')));
      assert.equal(csr.subject, cn);
      const san = csr.getExtension('2.5.29.17');
      assert.ok(san !== null);
      assert.deepEqual(new x509.SubjectAlternativeNameExtension(san.rawData).names.toJSON().map((n) => n.value), [...names]);
      await server?.stop();
      server = undefined;
    }
  });

  it('stores the chain to the preferred root when the CA links one, else the default', async () => {
    const routes = { 'POST /cert/1': chain(() => defaultChain, { link: '</cert/1/alt>;rel="alternate"' }), 'POST /cert/1/alt': chain(() => otherChain) };
    const preferred = await issuerFor(routes, { preferredChain: 'Other Root' });
    assert.equal((await preferred.issuer.issue(['a.example.test'])).chainPem, otherChain);
    await server?.stop();
    const unknown = await issuerFor(routes, { preferredChain: 'No Such Root' });
    assert.equal((await unknown.issuer.issue(['a.example.test'])).chainPem, defaultChain);
  });
});

describe('AcmeCertificateAuthority failures', () => {
  it("reports a failed validation with the challenge's problem, and stops serving the answer", async () => {
    const error = { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'The key authorization file from the server did not match' };
    const { issuer, responder } = await issuerFor({ 'POST /authz/1': [authz('pending'), authz('invalid', { status: 'invalid', error })] });
    const err = await issueError(issuer.issue(['a.example.test']));
    assert.equal(err.step, 'validating a.example.test');
    assert.deepEqual(err.report, { problem: { type: 'unauthorized', detail: error.detail, status: undefined }, retryAfterMs: undefined });
    assert.equal(err.transport, undefined);
    assert.match(err.message, /did not match/);
    assert.equal(responder.size, 0);
  });

  it('fails a validation that stays pending after polling, saying so', async () => {
    const { issuer, responder } = await issuerFor({ 'POST /authz/1': authz('pending') });
    const err = await issueError(issuer.issue(['a.example.test']));
    assert.equal(err.step, 'validating a.example.test');
    assert.equal(err.report, undefined);
    assert.match(err.message, /^validating a\.example\.test failed for a\.example\.test: ACME authz .* is still pending after [\d.]+ s of polling/);
    assert.equal(responder.size, 0);
  });

  it('reports a rate limit with its type, status and Retry-After', async () => {
    const { issuer } = await issuerFor({
      'POST /new-order': (_req, res, nonce) => {
        answerProblem(res, 429, 'rateLimited', { 'replay-nonce': nonce, 'retry-after': '3600' });
      },
    });
    const err = await issueError(issuer.issue(['a.example.test']));
    assert.equal(err.step, 'creating the order');
    assert.deepEqual(err.report, { problem: { type: 'rateLimited', detail: 'scripted rateLimited', status: 429 }, retryAfterMs: 3_600_000 });
  });

  it('names a CA that does not answer as a network failure', async () => {
    const port = await freePort();
    const { issuer } = await issuerFor({ 'POST /finalize/1': validOrder(`http://127.0.0.1:${port}/cert/1`) });
    const err = await issueError(issuer.issue(['a.example.test']));
    assert.equal(err.step, 'downloading the certificate');
    assert.equal(err.transport, 'network');
    assert.equal(err.report, undefined);
    assert.match(err.message, /ECONNREFUSED/);
  });

  for (const refusal of ['alreadyReplaced', 'unauthorized', 'malformed']) {
    it(`orders again without "replaces" when the CA refuses it as ${refusal}`, async () => {
      const { issuer, ca, lines } = await issuerFor({
        'POST /new-order': [
          (_req, res, nonce) => {
            answerProblem(res, refusal === 'alreadyReplaced' ? 409 : 403, refusal, { 'replay-nonce': nonce });
          },
          newOrder,
        ],
      });
      await issuer.issue(['a.example.test'], { replaces: 'aki.serial' });
      const sent = payloads(ca, '/new-order') as { replaces?: string }[];
      assert.deepEqual(sent.map((p) => p.replaces), ['aki.serial', undefined]);
      assert.ok(lines.some((l) => l.level === 'warn' && l['problemType'] === refusal));
    });
  }

  it('does not retry other refusals of an order naming "replaces"', async () => {
    const { issuer, ca } = await issuerFor({
      'POST /new-order': (_req, res, nonce) => {
        answerProblem(res, 429, 'rateLimited', { 'replay-nonce': nonce });
      },
    });
    const err = await issueError(issuer.issue(['a.example.test'], { replaces: 'aki.serial' }));
    assert.equal(err.report?.problem.type, 'rateLimited');
    assert.equal(ca.count('POST', '/new-order'), 1);
  });
});

describe('AcmeCertificateAuthority account', () => {
  it('creates the account with the terms, contact and external account binding when the key has none', async () => {
    const { issuer, ca, lines } = await issuerFor(
      {
        'POST /new-acct': [
          (_req, res, nonce) => {
            answerProblem(res, 400, 'accountDoesNotExist', { 'replay-nonce': nonce });
          },
          (_req, res, nonce) => {
            answerJson(res, 201, { status: 'valid' }, { 'replay-nonce': nonce, location: '/acct/1' });
          },
        ],
      },
      { email: 'ops@example.test', eab: { kid: 'kid-1', hmacKey: Buffer.from('secret').toString('base64url') } },
    );
    await issuer.ensureAccount();
    await issuer.ensureAccount();
    const [lookup, create] = payloads(ca, '/new-acct') as Record<string, unknown>[];
    assert.deepEqual(lookup, { onlyReturnExisting: true });
    assert.ok(create !== undefined);
    assert.equal(create['termsOfServiceAgreed'], true);
    assert.deepEqual(create['contact'], ['mailto:ops@example.test']);
    assert.equal(typeof create['externalAccountBinding'], 'object');
    assert.equal(payloads(ca, '/new-acct').length, 2, 'registered once');
    assert.ok(lines.some((l) => l.msg === 'ACME account ready' && l['created'] === true));
  });

  it('updates the contact of an existing account only when it differs', async () => {
    const existing = (contact: string[]): ScriptedAnswer => (_req, res, nonce) => {
      answerJson(res, 200, { status: 'valid', contact }, { 'replay-nonce': nonce, location: '/acct/1' });
    };
    const same = await issuerFor({ 'POST /new-acct': existing(['mailto:ops@example.test']) }, { email: 'ops@example.test' });
    await same.issuer.ensureAccount();
    assert.equal(same.ca.count('POST', '/acct/1'), 0);
    await server?.stop();
    const changed = await issuerFor({ 'POST /new-acct': existing(['mailto:old@example.test']), 'POST /acct/1': existing(['mailto:ops@example.test']) }, { email: 'ops@example.test' });
    await changed.issuer.ensureAccount();
    assert.deepEqual(payloads(changed.ca, '/acct/1'), [{ contact: ['mailto:ops@example.test'] }]);
  });

  it('stops with AcmeConfigError when the directory does not offer the profile', async () => {
    const { issuer } = await issuerFor({}, { profile: 'tlsserver' });
    await assert.rejects(issuer.ensureAccount(), (err: unknown) => {
      assert.ok(err instanceof AcmeConfigError);
      assert.match(err.message, /^--acme-profile tlsserver: the CA at http:\/\/127\.0\.0\.1:\d+\/dir offers no profiles$/);
      return true;
    });
  });

  it('fails an order whose account cannot be registered as not sent', async () => {
    const { issuer, ca } = await issuerFor({
      'POST /new-acct': (_req, res, nonce) => {
        answerProblem(res, 400, 'externalAccountRequired', { 'replay-nonce': nonce });
      },
    });
    const err = await issueError(issuer.issue(['a.example.test']));
    assert.equal(err.step, 'account registration');
    assert.match(err.message, /externalAccountRequired/);
    assert.equal(ca.count('POST', '/new-order'), 0);
  });
});
