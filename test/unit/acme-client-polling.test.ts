import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, afterEach, describe, it } from 'node:test';
import { Agent } from 'undici';
import { AcmeClient } from '../../src/acme/protocol/client.js';
import { AcmePollTimeoutError, DEFAULT_POLL_BACKOFF, nextPoll, pollBudgetMs } from '../../src/acme/protocol/poll.js';
import { AcmeProblemError } from '../../src/acme/protocol/problem.js';
import { AcmeTransport } from '../../src/acme/protocol/transport.js';
import type { AcmeOrder } from '../../src/acme/protocol/types.js';
import { JumpingClock } from '../support/manual-clock.js';
import { memoryLogger } from '../support/memory-logger.js';
import { answerJson, startFakeCa, type ScriptedAcme, type ScriptedAnswer } from '../support/scripted-acme.js';

const accountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const agent = new Agent();
after(() => agent.close());

/** A whole second, so that an HTTP-date Retry-After (second precision) names an exact delay. */
const START = Date.UTC(2026, 11, 1, 12, 0, 0);

let server: ScriptedAcme | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function clientFor(routes: Record<string, ScriptedAnswer | ScriptedAnswer[]>): Promise<{ client: AcmeClient; clock: JumpingClock; ca: ScriptedAcme }> {
  const { ca, directoryUrl } = await startFakeCa(routes);
  server = ca;
  const clock = new JumpingClock(START);
  const transport = new AcmeTransport({ dispatcher: agent, timeoutMs: 5_000, userAgent: 'marathon-acme/test', clock });
  const client = new AcmeClient({ directoryUrl, accountKey, transport, clock, logger: memoryLogger().logger });
  await client.account({ termsOfServiceAgreed: true });
  return { client, clock, ca };
}

function authz(status: string, headers: Record<string, string> = {}, challenges: unknown[] = []): ScriptedAnswer {
  return (_req, res, nonce) => {
    answerJson(res, 200, { status, identifier: { type: 'dns', value: 'a.example.test' }, challenges }, { 'replay-nonce': nonce, ...headers });
  };
}

function order(status: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): ScriptedAnswer {
  return (req, res, nonce) => {
    const origin = `http://${req.headers.host ?? ''}`;
    answerJson(
      res,
      200,
      { status, identifiers: [{ type: 'dns', value: 'a.example.test' }], authorizations: [`${origin}/authz/1`], finalize: `${origin}/finalize/1`, ...extra },
      { 'replay-nonce': nonce, ...headers },
    );
  };
}

function pendingOrder(ca: ScriptedAcme): AcmeOrder {
  return {
    url: ca.url('/order/1'),
    status: 'ready',
    identifiers: [{ type: 'dns', value: 'a.example.test' }],
    authorizations: [ca.url('/authz/1')],
    finalize: ca.url('/finalize/1'),
    certificate: undefined,
    error: undefined,
    retryAfterMs: undefined,
  };
}

describe('nextPoll', () => {
  it('doubles from 50 ms to 10 s over 14 polls, about 73 s in all', () => {
    const waits: number[] = [];
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      const next = nextPoll(DEFAULT_POLL_BACKOFF, attempt, undefined, waited);
      if ('stop' in next) break;
      waits.push(next.waitMs);
      waited += next.waitMs;
    }
    assert.deepEqual(waits, [50, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000]);
    assert.equal(pollBudgetMs(DEFAULT_POLL_BACKOFF), 72_750);
  });

  it('obeys Retry-After, with the first backoff step as its floor', () => {
    assert.deepEqual(nextPoll(DEFAULT_POLL_BACKOFF, 0, 20_000, 0), { waitMs: 20_000 });
    assert.deepEqual(nextPoll(DEFAULT_POLL_BACKOFF, 3, 0, 0), { waitMs: 50 });
  });

  it('stops rather than cut a Retry-After short when it would run past the budget', () => {
    const next = nextPoll(DEFAULT_POLL_BACKOFF, 0, 3_600_000, 0);
    assert.ok('stop' in next);
    assert.match(next.stop, /asked to wait 3600000 ms/);
  });
});

describe('AcmeClient polling', () => {
  it('waits for a pending authorization as Retry-After says, else by the backoff', async () => {
    const { client, clock, ca } = await clientFor({
      'POST /authz/1': [authz('pending', { 'retry-after': '3' }), authz('pending'), authz('valid')],
    });
    const result = await client.waitForAuthorization(ca.url('/authz/1'));
    assert.equal(result.status, 'valid');
    assert.deepEqual(clock.sleeps, [50, 3_000, 200]);
    assert.equal(ca.count('POST', '/authz/1'), 3);
  });

  it('reads a Retry-After HTTP date against the injected clock', async () => {
    const at = new Date(START + 6_000).toUTCString();
    const { client, clock, ca } = await clientFor({
      'POST /authz/1': [authz('pending', { 'retry-after': at }), authz('valid')],
    });
    await client.waitForAuthorization(ca.url('/authz/1'));
    // The date is read right after the first 50 ms wait, when the clock says START + 50.
    assert.deepEqual(clock.sleeps, [50, 5_950]);
  });

  it('polls a processing order after finalize as its Retry-After says', async () => {
    const { client, clock, ca } = await clientFor({
      'POST /finalize/1': order('processing', { 'retry-after': '2' }),
      'POST /order/1': [order('processing'), order('valid', {}, { certificate: '/cert/1' })],
    });
    const valid = await client.finalize(pendingOrder(ca), Buffer.from('csr'));
    assert.equal(valid.status, 'valid');
    assert.equal(valid.certificate, ca.url('/cert/1'));
    assert.deepEqual(clock.sleeps, [2_000, 100]);
    const finalize = ca.requests.find((r) => r.path === '/finalize/1');
    assert.deepEqual(finalize?.jws?.payload, { csr: Buffer.from('csr').toString('base64url') });
  });

  it('does not poll when finalize already answers a valid order', async () => {
    const { client, clock, ca } = await clientFor({ 'POST /finalize/1': order('valid', {}, { certificate: '/cert/1' }) });
    await client.finalize(pendingOrder(ca), Buffer.from('csr'));
    assert.deepEqual(clock.sleeps, []);
    assert.equal(ca.count('POST', '/order/1'), 0);
  });

  it('gives up at once when the CA asks to wait longer than polling may take', async () => {
    const { client, clock, ca } = await clientFor({ 'POST /finalize/1': order('processing', { 'retry-after': '3600' }) });
    await assert.rejects(client.finalize(pendingOrder(ca), Buffer.from('csr')), (err: unknown) => {
      assert.ok(err instanceof AcmePollTimeoutError);
      assert.equal(err.lastStatus, 'processing');
      assert.equal(err.url, ca.url('/order/1'));
      return true;
    });
    assert.deepEqual(clock.sleeps, []);
  });

  it('gives up after 14 polls of an authorization that stays pending', async () => {
    const { client, clock, ca } = await clientFor({ 'POST /authz/1': authz('pending') });
    await assert.rejects(client.waitForAuthorization(ca.url('/authz/1')), AcmePollTimeoutError);
    assert.equal(clock.sleeps.length, 14);
    assert.equal(ca.count('POST', '/authz/1'), 14);
  });

  it("throws the failed challenge's problem for an invalid authorization, skipping challenges it does not know", async () => {
    const challenges = [
      { type: 'dns-persist-01', url: '/chall/9', status: 'pending', futureField: { x: 1 } },
      'not a challenge',
      {
        type: 'http-01',
        url: '/chall/1',
        status: 'invalid',
        token: 'tok',
        error: { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'wrong key authorization', status: 403 },
      },
    ];
    const { client, ca } = await clientFor({ 'POST /authz/1': authz('invalid', {}, challenges) });
    await assert.rejects(client.waitForAuthorization(ca.url('/authz/1')), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.type, 'unauthorized');
      assert.equal(err.detail, 'wrong key authorization');
      assert.equal(err.endpoint, 'challenge');
      assert.equal(err.url, ca.url('/chall/1'));
      return true;
    });
  });

  it("throws the order's problem when finalization makes it invalid", async () => {
    const { client, ca } = await clientFor({
      'POST /finalize/1': order('processing'),
      'POST /order/1': order('invalid', {}, { error: { type: 'urn:ietf:params:acme:error:badCSR', detail: 'key too small' } }),
    });
    await assert.rejects(client.finalize(pendingOrder(ca), Buffer.from('csr')), (err: unknown) => {
      assert.ok(err instanceof AcmeProblemError);
      assert.equal(err.type, 'badCSR');
      assert.equal(err.endpoint, 'order');
      return true;
    });
  });
});
