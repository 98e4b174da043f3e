import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, afterEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import { AcmeClient } from '../../src/acme/protocol/client.js';
import { accountSigner } from '../../src/acme/protocol/jws.js';
import { AcmeProblemError } from '../../src/acme/protocol/problem.js';
import { AcmeTransport } from '../../src/acme/protocol/transport.js';
import { JumpingClock } from '../support/manual-clock.js';
import { memoryLogger } from '../support/memory-logger.js';
import { answerJson, answerProblem, startFakeCa, type RecordedRequest, type ScriptedAcme, type ScriptedAnswer } from '../support/scripted-acme.js';

const accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const agent = new Agent();
after(() => agent.close());

let server: ScriptedAcme | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function clientFor(routes: Record<string, ScriptedAnswer | ScriptedAnswer[]>): Promise<{ client: AcmeClient; ca: ScriptedAcme }> {
  const { ca, directoryUrl } = await startFakeCa(routes);
  server = ca;
  const clock = new JumpingClock(Date.UTC(2026, 11, 1));
  const transport = new AcmeTransport({ dispatcher: agent, timeoutMs: 5_000, userAgent: 'marathon-acme/test', clock });
  return { client: new AcmeClient({ directoryUrl, accountKey, transport, clock, logger: memoryLogger().logger }), ca };
}

function posts(ca: ScriptedAcme, path: string): RecordedRequest[] {
  return ca.requests.filter((r) => r.method === 'POST' && r.path === path);
}

function jws(req: RecordedRequest | undefined): NonNullable<RecordedRequest['jws']> {
  assert.ok(req?.jws !== undefined, 'a signed request');
  return req.jws;
}

function decodePart(value: unknown): unknown {
  assert.equal(typeof value, 'string');
  return JSON.parse(Buffer.from(value as string, 'base64url').toString('utf8'));
}

const noAccount: ScriptedAnswer = (_req, res, nonce) => {
  answerProblem(res, 400, 'accountDoesNotExist', { 'replay-nonce': nonce });
};

describe('AcmeClient accounts', () => {
  it('findAccount looks the key up without creating an account', async () => {
    const { client, ca } = await clientFor({ 'POST /new-acct': noAccount });
    assert.equal(await client.findAccount(), undefined);
    const [lookup] = posts(ca, '/new-acct');
    assert.deepEqual(jws(lookup).payload, { onlyReturnExisting: true });
    assert.equal(posts(ca, '/new-acct').length, 1);
    assert.equal(client.accountUrl, undefined);
  });

  it('findAccount remembers the account it found as the kid of later requests', async () => {
    const { client, ca } = await clientFor({
      'POST /revoke-cert': (_req, res, nonce) => {
        answerJson(res, 200, {}, { 'replay-nonce': nonce });
      },
    });
    assert.deepEqual(await client.findAccount(), { url: ca.url('/acct/1'), status: 'valid' });
    await client.revoke(Buffer.from('der'), 4);
    const [revoke] = posts(ca, '/revoke-cert');
    assert.equal(jws(revoke).protected['kid'], ca.url('/acct/1'));
    assert.deepEqual(jws(revoke).payload, { certificate: Buffer.from('der').toString('base64url'), reason: 4 });
  });

  it('creates the account when the key has none, agreeing to the terms, with contact and EAB', async () => {
    const created: ScriptedAnswer = (req, res, nonce) => {
      answerJson(res, 201, { status: 'valid', contact: ['mailto:ops@example.test'] }, { 'replay-nonce': nonce, location: `http://${req.headers.host ?? ''}/acct/7` });
    };
    const { client, ca } = await clientFor({ 'POST /new-acct': [noAccount, created] });
    const hmacKey = Buffer.from('a shared secret of the CA').toString('base64url');
    const account = await client.account({ termsOfServiceAgreed: true, contact: ['mailto:ops@example.test'], eab: { kid: 'eab-kid', hmacKey } });
    assert.deepEqual(account, { url: ca.url('/acct/7'), status: 'valid', created: true });
    assert.equal(client.accountUrl, ca.url('/acct/7'));
    const payload = jws(posts(ca, '/new-acct')[1]).payload as Record<string, unknown>;
    assert.equal(payload['termsOfServiceAgreed'], true);
    assert.deepEqual(payload['contact'], ['mailto:ops@example.test']);
    const eab = payload['externalAccountBinding'] as Record<string, unknown>;
    assert.deepEqual(decodePart(eab['protected']), { alg: 'HS256', kid: 'eab-kid', url: ca.url('/new-acct') });
    assert.deepEqual(decodePart(eab['payload']), accountSigner(accountKey).jwk);
  });

  it("updates an existing account's contact only when it differs", async () => {
    const existing = (contact: string[]): ScriptedAnswer => (req, res, nonce) => {
      answerJson(res, 200, { status: 'valid', contact }, { 'replay-nonce': nonce, location: `http://${req.headers.host ?? ''}/acct/1` });
    };
    const { client, ca } = await clientFor({
      'POST /new-acct': [existing(['mailto:b@example.test', 'mailto:a@example.test']), existing(['mailto:old@example.test'])],
      'POST /acct/1': (_req, res, nonce) => {
        answerJson(res, 200, { status: 'valid' }, { 'replay-nonce': nonce });
      },
    });
    const same = await client.account({ termsOfServiceAgreed: true, contact: ['mailto:a@example.test', 'mailto:b@example.test'] });
    assert.equal(same.created, false);
    assert.equal(posts(ca, '/acct/1').length, 0, 'the same contacts in another order need no update');
    await client.account({ termsOfServiceAgreed: true, contact: ['mailto:new@example.test'] });
    const [update] = posts(ca, '/acct/1');
    assert.equal(jws(update).protected['kid'], ca.url('/acct/1'));
    assert.deepEqual(jws(update).payload, { contact: ['mailto:new@example.test'] });
  });

  it('refuses requests that need the account before it is known', async () => {
    const { client } = await clientFor({});
    await assert.rejects(client.newOrder(['a.example.test']), /account\(\) must succeed/);
  });

  it('changes the account key: inner JWS by the new key naming the account and old key, later requests signed by the new key', async () => {
    const { client, ca } = await clientFor({
      'POST /key-change': (_req, res, nonce) => {
        answerJson(res, 200, { status: 'valid' }, { 'replay-nonce': nonce });
      },
      'POST /revoke-cert': (_req, res, nonce) => {
        answerJson(res, 200, {}, { 'replay-nonce': nonce });
      },
    });
    await client.findAccount();
    const newKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await client.keyChange(newKey);
    const [outer] = posts(ca, '/key-change');
    assert.equal(jws(outer).protected['alg'], 'ES256');
    assert.equal(jws(outer).protected['kid'], ca.url('/acct/1'));
    const inner = jws(outer).payload as Record<string, unknown>;
    assert.deepEqual(decodePart(inner['protected']), { alg: 'RS256', jwk: accountSigner(newKey).jwk, url: ca.url('/key-change') });
    assert.deepEqual(decodePart(inner['payload']), { account: ca.url('/acct/1'), oldKey: accountSigner(accountKey).jwk });
    assert.equal(client.keyAuthorization('tok'), `tok.${accountSigner(newKey).thumbprint}`);
    await client.revoke(Buffer.from('der'));
    assert.equal(jws(posts(ca, '/revoke-cert')[0]).protected['alg'], 'RS256');
  });
});

describe('AcmeClient objects', () => {
  it('reads the directory once, and again after a failed read', async () => {
    let reads = 0;
    const { client, ca } = await clientFor({
      'GET /dir': (_req, res) => {
        reads += 1;
        if (reads === 1) {
          answerProblem(res, 503, 'serverInternal');
          return;
        }
        answerJson(res, 200, { newNonce: '/new-nonce', newAccount: '/new-acct', newOrder: '/new-order', meta: { profiles: { classic: 'x' }, externalAccountRequired: true }, future: 1 });
      },
    });
    await assert.rejects(client.directory(), (err: unknown) => err instanceof AcmeProblemError && err.status === 503);
    const directory = await client.directory();
    await client.directory();
    assert.equal(reads, 2);
    assert.equal(directory.newOrder, ca.url('/new-order'), 'relative URLs resolved');
    assert.equal(directory.keyChange, undefined);
    assert.deepEqual(directory.meta, { termsOfService: undefined, profiles: { classic: 'x' }, externalAccountRequired: true });
  });

  it('sends identifiers, replaces and profile with newOrder and reads the order, ignoring unknown members', async () => {
    const { client, ca } = await clientFor({
      'POST /new-order': (req, res, nonce) => {
        const origin = `http://${req.headers.host ?? ''}`;
        answerJson(
          res,
          201,
          { status: 'pending', identifiers: [{ type: 'dns', value: 'a.example.test' }], authorizations: [`${origin}/authz/1`, 42], finalize: `${origin}/finalize/1`, newThing: { x: [1] } },
          { 'replay-nonce': nonce, location: `${origin}/order/1` },
        );
      },
    });
    await client.findAccount();
    const order = await client.newOrder(['a.example.test'], { replaces: 'aki.serial', profile: 'shortlived' });
    assert.deepEqual(jws(posts(ca, '/new-order')[0]).payload, { identifiers: [{ type: 'dns', value: 'a.example.test' }], replaces: 'aki.serial', profile: 'shortlived' });
    assert.deepEqual(order, {
      url: ca.url('/order/1'),
      status: 'pending',
      identifiers: [{ type: 'dns', value: 'a.example.test' }],
      authorizations: [ca.url('/authz/1')],
      finalize: ca.url('/finalize/1'),
      certificate: undefined,
      error: undefined,
      retryAfterMs: undefined,
    });
  });

  it('keeps challenges of unknown types, without a token, and skips entries it cannot read', async () => {
    const { client, ca } = await clientFor({
      'POST /authz/1': (_req, res, nonce) => {
        answerJson(
          res,
          200,
          {
            status: 'pending',
            identifier: { type: 'dns', value: 'a.example.test' },
            challenges: [
              { type: 'dns-persist-01', url: '/chall/2', status: 'pending', issuerDomainNames: ['ca.test'] },
              { type: 'http-01', url: '/chall/1', status: 'pending', token: 'tok-1' },
              { type: 'http-01', status: 'pending', token: 'no-url' },
              { type: 'tls-alpn-01', url: '/chall/3', status: 'someday', token: 'tok-3' },
            ],
          },
          { 'replay-nonce': nonce },
        );
      },
    });
    await client.findAccount();
    const authz = await client.authorization(ca.url('/authz/1'));
    assert.deepEqual(
      authz.challenges.map((c) => [c.type, c.url, c.token]),
      [
        ['dns-persist-01', ca.url('/chall/2'), undefined],
        ['http-01', ca.url('/chall/1'), 'tok-1'],
      ],
    );
    assert.equal(authz.wildcard, false);
  });

  it('reports an order without a finalize URL as an unusable answer', async () => {
    const { client, ca } = await clientFor({
      'POST /order/1': (_req, res, nonce) => {
        answerJson(res, 200, { status: 'pending', authorizations: [] }, { 'replay-nonce': nonce });
      },
    });
    await client.findAccount();
    await assert.rejects(client.order(ca.url('/order/1')), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.type, undefined);
      assert.equal(err.status, 200);
      assert.match(err.detail, /no usable "finalize" URL/);
      return true;
    });
  });
});
